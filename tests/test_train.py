"""Training from the command line: it resumes after a SIGKILL on the same loss trajectory, the
DiT trains on the frozen VAE, and a run exports to a model folder the engine loads."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from stream.config import TINY
from stream.model.vae import CausalVAE
from stream.runtime.checkpoint import build_models, save_model
from stream.runtime.engine import Engine
from train.config import VAEObjective
from train.dit_trainer import latent_scale
from train.export import swap_decoder
from train.runs import latest_state, total_training

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)

REPO = Path(__file__).resolve().parents[1]
STEPS = 7


def _command(kind: str, run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "train", kind, "--run-dir", str(run_dir), "--config", "tiny",
        "--steps", str(STEPS), "--batch", "2", "--checkpoint-every", "3", "--eval-every", "100",
        "--warmup", "2", *extra,
    ]  # fmt: skip


def _env(cache: Path) -> dict[str, str]:
    """No real clips (the test is about the loop, and decoding them would dominate its time),
    and a compilation cache shared by the runs, so each compiles the tiny models only once."""
    return {
        **os.environ,
        "STREAM_VIDEO_DIR": "/nonexistent",
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def _losses(run_dir: Path) -> dict[int, float]:
    """The last logged loss of every step (a resumed run logs the replayed steps again)."""
    losses = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            losses[record["step"]] = record["loss"]
    return losses


def _wait_for_checkpoint(process: subprocess.Popen, run_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Orbax writes into a temporary folder and renames it to the bare step when committed.
        committed = [p for p in (run_dir / "checkpoints").glob("*") if p.name.isdigit()]
        if committed and process.poll() is None:
            return
        assert process.poll() is None, "training ended before it wrote a checkpoint"
        time.sleep(0.2)
    raise AssertionError("no checkpoint written in time")


@pytest.fixture(scope="module")
def vae_runs(tmp_path_factory) -> tuple[Path, Path]:
    """An uninterrupted VAE run and one killed after its first checkpoint, then resumed."""
    root = tmp_path_factory.mktemp("runs")
    whole, killed = root / "whole", root / "killed"
    env = _env(root / "jax_cache")
    uninterrupted = subprocess.Popen(
        _command("vae", whole), cwd=REPO, env=env, stderr=subprocess.DEVNULL
    )
    victim = subprocess.Popen(_command("vae", killed), cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    _wait_for_checkpoint(victim, killed, timeout=900)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    resumed = subprocess.run(
        _command("vae", killed), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr
    assert uninterrupted.wait() == 0
    return whole, killed


@pytest.fixture(scope="module")
def decoder_run(vae_runs, tmp_path_factory) -> Path:
    """A decoder-only run started from the uninterrupted VAE run."""
    source, run_dir = vae_runs[0], tmp_path_factory.mktemp("decoder") / "run"
    command = _command(
        "vae", run_dir, "--init-from", str(source), "--freeze-encoder", "--steps", "3"
    )
    run = subprocess.run(
        command, cwd=REPO, env=_env(source.parent / "jax_cache"), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run_dir


def test_resumed_run_continues_the_same_loss_trajectory(vae_runs):
    whole, killed = (_losses(run) for run in vae_runs)
    assert sorted(whole) == sorted(killed) == list(range(1, STEPS + 1))
    np.testing.assert_allclose(
        [killed[s] for s in whole], [whole[s] for s in whole], rtol=1e-6, atol=0
    )
    assert whole[STEPS] < whole[1], "the loss should come down within a few steps"


def test_dit_trains_on_the_frozen_vae_and_exports(vae_runs, decoder_run, tmp_path):
    vae_run = vae_runs[0]
    env = _env(vae_run.parent / "jax_cache")
    dit_run, model = tmp_path / "dit", tmp_path / "model"
    steps = ["--steps", "2", "--checkpoint-every", "2"]
    train = subprocess.run(
        _command("dit", dit_run, "--vae", str(vae_run), *steps),
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-2000:]
    assert np.isfinite(list(_losses(dit_run).values())).all()
    evals = [json.loads(line) for line in (dit_run / "metrics.jsonl").read_text().splitlines()]
    last_eval = [e for e in evals if "eval/worlds_flow_mse" in e][-1]
    assert "eval/worlds_quick_dit_psnr_c1" in last_eval, "the eval logs what users would see"
    assert "eval/worlds_quick_repeat_psnr_c1" in last_eval
    export = subprocess.run(
        [sys.executable, "-m", "train", "export", "--dit-run", str(dit_run), "--out", str(model),
         "--vae-decoder", str(decoder_run), "--no-eval"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr[-2000:]
    engine = Engine.load(model)
    assert engine.info["steps"] == {"vae": STEPS + 3, "dit": 2}, "the decoder run's steps count"
    assert engine.config.vae.latent_scale != 1.0, "the frozen VAE's measured scale is shipped"
    assert "tree.avi" in engine.info["held_out"]
    session = engine.open(seed=0)
    session.push(np.zeros((5, 32, 32, 3), np.uint8))
    assert session.extend(8).shape == (8, 32, 32, 3)


def test_init_from_starts_a_run_at_another_runs_parameters(vae_runs, tmp_path):
    source, tuned = vae_runs[0], tmp_path / "tuned"
    env = _env(source.parent / "jax_cache")
    command = _command("vae", tuned, "--init-from", str(source), "--frames", "9", "--steps", "1")
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    # Warm-up starts at learning rate 0, so one step leaves the source's parameters untouched.
    (_, before), (config, after) = latest_state(source, "vae"), latest_state(tuned, "vae")
    assert int(after["step"]) == 1
    jax.tree.map(np.testing.assert_array_equal, before["params"], after["params"])
    assert config.objective.frames == 9
    steps = total_training(config, after, "vae")[0]
    assert steps == STEPS + 1, "a fine-tuned model counts all its steps"


def test_freeze_encoder_trains_the_decoder_only(vae_runs, decoder_run):
    (_, source), (_, tuned) = latest_state(vae_runs[0], "vae"), latest_state(decoder_run, "vae")
    encoder, decoder = (
        [jax.tree.leaves(state["params"][part]) for state in (source, tuned)]
        for part in ("encoder", "decoder")
    )
    assert all(np.array_equal(a, b) for a, b in zip(*encoder, strict=True))
    assert not any(np.array_equal(a, b) for a, b in zip(*decoder, strict=True))


def test_export_refuses_a_decoder_trained_for_another_encoder(decoder_run):
    stranger = CausalVAE(TINY.vae, rngs=nnx.Rngs(123))
    with pytest.raises(ValueError, match="encoder"):
        swap_decoder(stranger, decoder_run)


def test_vae_clips_must_be_one_frame_plus_whole_groups():
    with pytest.raises(ValueError, match="frames"):
        VAEObjective(frames=8)


def test_latent_scale_gives_latents_unit_std():
    vae = CausalVAE(TINY.vae, rngs=nnx.Rngs(0))
    clips = np.random.default_rng(0).uniform(-1, 1, (2, 5, 32, 32, 3)).astype(np.float32)
    scale = latent_scale(vae, clips)
    scaled = CausalVAE(dataclasses.replace(TINY.vae, latent_scale=scale), rngs=nnx.Rngs(0))
    assert float(np.std(scaled.encode(clips)[0])) == pytest.approx(1.0, rel=1e-4)


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> tuple[Path, Path, nnx.Module]:
    """A one-step DiT run started from a model folder: (folder, run directory, the folder's DiT)."""
    root = tmp_path_factory.mktemp("folder")
    model_dir, run_dir = root / "model", root / "dit"
    vae, dit = build_models(TINY, seed=3)
    save_model(model_dir, TINY, vae, dit, {"steps": {"vae": 5, "dit": 11}})
    command = _command(
        "dit", run_dir, "--vae", str(model_dir), "--init-from", str(model_dir), "--steps", "1"
    )
    run = subprocess.run(
        command, cwd=REPO, env=_env(root / "jax_cache"), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return model_dir, run_dir, dit


def test_init_from_a_model_folder_starts_at_its_dit(folder_run):
    _, run_dir, dit = folder_run
    # Warm-up starts at learning rate 0, so one step leaves the folder's parameters untouched.
    config, state = latest_state(run_dir, "dit")
    jax.tree.map(
        np.testing.assert_array_equal, nnx.to_pure_dict(nnx.state(dit, nnx.Param)), state["params"]
    )
    assert total_training(config, state, "dit")[0] == 11 + 1, "the folder's DiT steps count"


def test_a_run_counts_the_folders_training_as_it_was_when_the_run_began(folder_run):
    model_dir, run_dir, _ = folder_run
    # Shipping the run's own model into the folder it started from must not count twice.
    info = json.loads((model_dir / "info.json").read_text())
    info["steps"]["dit"] = 12
    (model_dir / "info.json").write_text(json.dumps(info))
    assert total_training(*latest_state(run_dir, "dit"), "dit")[0] == 11 + 1
