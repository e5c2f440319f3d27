"""The motion predictor from the command line: `python -m train motion` trains and checkpoints a
run, and `stream eval --motion-run` judges that run by the motion measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli import main
from stream.media.photo_worlds import PhotoWorld, PhotoWorldConfig
from stream.media.video_io import write_mp4

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)


@pytest.fixture(scope="module")
def motion_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("motion") / "run"
    command = [
        sys.executable, "-m", "train", "motion", "--run-dir", str(run_dir), "--config", "tiny",
        "--steps", "3", "--batch", "2", "--warmup", "1", "--checkpoint-every", "3",
        "--eval-every", "3", "--real-ratio", "0", "--rollout-steps", "2",
    ]  # fmt: skip
    env = {**os.environ, "STREAM_VIDEO_DIR": "/nonexistent", "JAX_PLATFORMS": "cpu"}
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=600)
    return run_dir


def test_a_motion_run_logs_its_losses_and_its_world_eval(motion_run):
    records = [json.loads(line) for line in (motion_run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all({"photometric", "change", "flow"} <= r.keys() for r in steps)
    evals = [r for r in records if "eval/worlds_flow_epe_ratio" in r]
    assert evals and np.isfinite(evals[-1]["eval/worlds_flow_epe_ratio"])


def test_stream_eval_judges_a_motion_run_on_a_clips_folder(motion_run, tmp_path, capsys):
    world = PhotoWorld(PhotoWorldConfig(seed=5, size=32, motion="pan"))
    write_mp4(tmp_path / "pan.mp4", world.frames(0, 70), fps=16)
    capsys.readouterr()
    assert (
        main(["eval", "--motion-run", str(motion_run), "--clips-dir", str(tmp_path), "--json"]) == 0
    )
    metrics = json.loads(capsys.readouterr().out)
    assert np.isfinite(metrics["motion_flow_ratio_f1_8"])
    assert "motion_margin_f1_8_pan.mp4" in metrics
