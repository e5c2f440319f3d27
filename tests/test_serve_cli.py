"""The `stream` commands that serve or talk to the engine, run as a user would run them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from cli import main
from cli.info import info_lines
from serve.background import BackgroundServer
from serve.settings import ServerSettings
from stream import Engine
from stream.config import TINY
from stream.media.boundary_marker import MARK_RGB
from stream.media.video_io import probe_video, read_video, write_mp4
from stream.media.worlds import make_world


@pytest.fixture(scope="module")
def server(tiny_engine):
    with BackgroundServer(tiny_engine, ServerSettings(port=0), warm=False) as running:
        yield running


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory, clip):
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    write_mp4(path, clip, fps=16)
    return path


@pytest.fixture(scope="module")
def clip_file_32fps(tmp_path_factory, clip):
    path = tmp_path_factory.mktemp("clips") / "clip32.mp4"
    write_mp4(path, clip, fps=32)  # 17 frames, 0.53 s: 9 frames at the model's 16 fps
    return path


@pytest.fixture
def in_process(tiny_engine, monkeypatch):
    monkeypatch.setattr(Engine, "load", classmethod(lambda cls, path=None: tiny_engine))


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_building_the_parser_imports_no_jax():
    done = _python("import sys, cli; cli.build_parser(); print('jax' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("command", ["info", "extend", "live"])
def test_commands_that_only_talk_to_a_server_import_no_jax(
    command, server, clip_file_32fps, tmp_path
):
    out = str(tmp_path / "out.mp4")
    argv = {
        "info": ["info"],
        "extend": ["extend", str(clip_file_32fps), "-o", out, "--frames", "4", "--with-input"],
        "live": ["live", str(clip_file_32fps), "-o", out, "--speed", "8", "--tail-seconds", "0"],
    }[command] + ["--server", server.target]
    code = f"import sys; from cli import main; main({argv!r}); print('jax' in sys.modules)"
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_extend_over_grpc_writes_the_requested_frames(server, clip_file, tmp_path):
    out = tmp_path / "out.mp4"
    argv = ["extend", str(clip_file), "-o", str(out), "--frames", "6", "--server", server.target]
    assert main(argv + ["--anchor", "both", "--seed", "3"]) == 0
    assert probe_video(out).num_frames == 6


def test_extend_in_process_writes_the_input_then_the_requested_seconds(
    in_process, clip_file, tmp_path
):
    out = tmp_path / "out.mp4"
    argv = ["extend", str(clip_file), "-o", str(out), "--seconds", "0.25", "--with-input"]
    assert main(argv + ["--compilation-cache", ""]) == 0
    assert probe_video(out).num_frames == 17 + 4  # 0.25 s at 16 fps


@pytest.mark.parametrize("where", ["in process", "on the server"])
def test_extend_with_input_writes_the_input_resampled_to_the_models_rate(
    where, request, clip_file_32fps, tmp_path
):
    out = tmp_path / "out.mp4"
    argv = ["extend", str(clip_file_32fps), "-o", str(out), "--frames", "4", "--with-input"]
    if where == "in process":
        request.getfixturevalue("in_process")
        argv += ["--compilation-cache", ""]
    else:
        argv += ["--server", request.getfixturevalue("server").target]
    assert main(argv) == 0
    written = probe_video(out)
    assert written.fps == 16  # the model's
    assert written.num_frames == 9 + 4  # 17 frames at 32 fps are 9 at 16: its duration kept


def test_mark_boundary_draws_a_red_border_on_the_predicted_frames_only(
    in_process, clip_file, tmp_path
):
    out = tmp_path / "out.mp4"
    argv = ["extend", str(clip_file), "-o", str(out), "--frames", "4", "--with-input"]
    assert main(argv + ["--mark-boundary", "--compilation-cache", ""]) == 0
    frames, _ = read_video(out)  # (21, 32, 32, 3): 17 input frames, then 4 predicted
    border = np.concatenate(
        [frames[:, :2].reshape(21, -1, 3), frames[:, -2:].reshape(21, -1, 3)], 1
    )
    red = np.abs(border.astype(int) - MARK_RGB).max(axis=2).mean(axis=1) < 40  # (21,)
    assert red.tolist() == [False] * 17 + [True] * 4


def test_live_prints_chunk_latency_and_live_drift_and_writes_input_and_chunks(
    server, clip_file, tmp_path, capsys
):
    out = tmp_path / "live.mp4"
    argv = ["live", str(clip_file), "--server", server.target, "-o", str(out), "--speed", "8"]
    assert main(argv + ["--every", "0.5", "--frames", "4", "--tail-seconds", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "latency" in printed and "live drift" in printed
    # the input, with two continuations where they were asked for, then the tail
    assert probe_video(out).num_frames == 17 + 4 + 4 + 8


def test_info_prints_the_servers_model_as_json(server, capsys):
    assert main(["info", "--server", server.target, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["name"], info["image_size"], info["frames_per_chunk"]) == ("tiny-test", 32, 8)


def test_info_prints_one_metric_a_line_grouped_by_its_first_word_with_values_aligned():
    metrics = {"real_motion_c1": 0.1, "worlds_jump_ratio": 12.5, "real_psnr_c1_tree.avi": 28.49}
    lines = info_lines({"name": "m", "anchor_modes": ["none", "both"], "metrics": metrics})
    assert lines[:3] == ["name: m", "anchor_modes: none, both", "metrics (3):"]
    assert [line.split() for line in lines[3:]] == [
        ["real"],
        ["real_motion_c1", "0.1"],
        ["real_psnr_c1_tree.avi", "28.49"],
        ["worlds"],
        ["worlds_jump_ratio", "12.5"],
    ]
    metric_lines = [line for line in lines[3:] if len(line.split()) == 2]
    assert len({len(line) for line in metric_lines}) == 1  # values end in one column


def test_info_of_a_model_with_metrics_prints_each_on_a_line_of_its_own(
    tiny_models, monkeypatch, capsys
):
    metrics = {"real": {"psnr_c1": 28.5, "motion_c1": 0.1}, "vae": {"held_out_psnr": 26.6}}
    engine = Engine(TINY, *tiny_models, info={"name": "tiny-metrics", "metrics": metrics})
    monkeypatch.setattr(Engine, "load", classmethod(lambda cls, path=None: engine))
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    grouped = lines[lines.index("metrics (3):") + 1 :]
    assert [line.split() for line in grouped] == [
        ["real"],
        ["real.motion_c1", "0.1"],
        ["real.psnr_c1", "28.5"],
        ["vae"],
        ["vae.held_out_psnr", "26.6"],
    ]


def test_unreachable_server_is_reported_without_a_traceback(clip_file, tmp_path, capsys):
    argv = ["extend", str(clip_file), "-o", str(tmp_path / "x.mp4"), "--frames", "1"]
    assert main(argv + ["--server", "127.0.0.1:1", "--wait", "0"]) == 1
    assert "UNAVAILABLE" in capsys.readouterr().err


def test_eval_refuses_a_clips_dir_without_videos_naming_the_flag(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a video")
    assert main(["eval", "--clips-dir", str(tmp_path)]) == 2
    assert "--clips-dir" in capsys.readouterr().err


def test_serve_refuses_a_certificate_without_its_key():
    # In a process of its own: `stream serve` takes over the process's logging.
    done = _python("from cli import main; raise SystemExit(main(['serve', '--tls-cert', 'c.pem']))")
    assert done.returncode == 2
    assert "stream serve: --tls-cert and --tls-key go together" in done.stderr


def test_drift_over_the_wire_measures_the_engines_own_rollout(server, tiny_engine, tmp_path):
    out = tmp_path / "drift"
    argv = ["drift", "--server", server.target, "--minutes", "0.1", "--seeds", "2"]
    assert main(argv + ["--modes", "none", "attention", "--out", str(out)]) == 0
    with (out / "series.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["mode"] == "attention"]
    # The same rollout in process: context of a full window plus the anchor, then one extension.
    window = tiny_engine.config.dit.window_frames
    world = make_world("sprites", seed=2, size=tiny_engine.config.image_size)
    context = 1 + 4 * window
    session = tiny_engine.open(anchor="attention", seed=2, window=window)
    session.push(world.frames(0, context))
    frames = session.extend(4 * len(rows))
    truth = world.frames(context, len(frames))
    for i, row in enumerate(rows):
        error = (frames[4 * i : 4 * i + 4].astype(np.float64) - truth[4 * i : 4 * i + 4]) / 255.0
        assert float(row["eps_rms"]) == pytest.approx(np.sqrt((error**2).mean()), rel=1e-9)
    with (out / "server_latent_eps.csv").open() as handle:
        latent = [float(r["latent_eps_norm"]) for r in csv.DictReader(handle)]
    assert len(latent) == 2 * len(rows) and all(np.isfinite(latent)) and min(latent) > 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["modes"]) == {"none", "attention"} and summary["eps_space"] == "pixels"
    assert (out / "drift.png").stat().st_size > 0
