"""Training data: pure functions of (seed, step), held-out clips unseen, layouts with a phase."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from stream.media.clips import HELD_OUT, video_names
from stream.model.layout import teacher_forcing
from train.data import ClipSampler, Prefetcher, clip_batch, load_clips, video_files

VIDEO_DIR = Path(
    os.environ.get("STREAM_VIDEO_DIR", Path(__file__).resolve().parents[2] / "shared/data/video")
)


def test_batches_are_pure_functions_of_seed_and_index():
    sampler = ClipSampler(32, 0.0, [])
    a, b = clip_batch(sampler, 0, 7, 2, 5), clip_batch(sampler, 0, 7, 2, 5)
    assert a.shape == (2, 5, 32, 32, 3) and a.dtype == np.float32
    assert a.min() >= -1.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, clip_batch(sampler, 0, 8, 2, 5))


def test_real_clips_are_cropped_resized_and_mixed_in():
    clip = np.random.default_rng(0).integers(0, 256, (6, 40, 52, 3), dtype=np.uint8)
    sampler = ClipSampler(32, 1.0, [clip])
    sample = sampler.sample(np.random.default_rng(1), 9)  # longer than the clip: ping-pong
    assert sample.shape == (9, 32, 32, 3) and sample.dtype == np.uint8


def test_prefetcher_returns_batches_in_order_from_any_start():
    prefetcher = Prefetcher(lambda i: i * i, threads=2, depth=3)
    assert [prefetcher.get(i) for i in range(5, 10)] == [25, 36, 49, 64, 81]
    prefetcher.close()


@pytest.mark.skipif(not VIDEO_DIR.is_dir(), reason=f"no real clips at {VIDEO_DIR}")
def test_held_out_clips_are_never_trained_on():
    training = {p.name for p in video_files(VIDEO_DIR, held_out=False)}
    held_out = {p.name for p in video_files(VIDEO_DIR, held_out=True)}
    assert held_out == set(HELD_OUT) & set(video_names(VIDEO_DIR))
    assert not training & held_out
    (frames,) = load_clips([VIDEO_DIR / "realshort.mp4"], 32)
    assert min(frames.shape[1:3]) == 40  # the working size: crops are taken from it


def test_teacher_forcing_phase_moves_block_boundaries():
    default = teacher_forcing(6, 2)
    np.testing.assert_array_equal(default.block_start[6:], [1, 1, 3, 3, 5])
    shifted = teacher_forcing(6, 2, first=2)
    np.testing.assert_array_equal(shifted.time[6:], [2, 3, 4, 5])
    np.testing.assert_array_equal(shifted.block_start[6:], [2, 2, 4, 4])
    assert not shifted.noisy[:6].any() and shifted.noisy[6:].all()


def test_a_training_folder_without_the_held_out_clips_trains_on_its_own(tmp_path):
    # A --video-dir of other footage: the VAE task builds, and evaluates on worlds alone.
    from stream.config import TINY
    from train.config import RunConfig, VAETraining
    from train.vae_trainer import vae_task

    shipped = Path(__file__).resolve().parents[1] / "stream/assets/realshort.mp4"
    (tmp_path / shipped.name).write_bytes(shipped.read_bytes())
    config = VAETraining(run=RunConfig(engine=TINY))
    task = vae_task(config, tmp_path)
    try:
        scores = task.evaluate(task.model)
    finally:
        task.close()
    assert scores and all(name.startswith("worlds_") for name in scores)
