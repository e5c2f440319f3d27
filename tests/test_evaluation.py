"""stream eval's metrics: their defining properties, and a whole (tiny) evaluation run."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from stream.evaluation import (
    HORIZONS,
    psnr,
    run_eval,
    shift_baseline,
    ssim,
    temporal_consistency,
    vae_scores,
    world_clips,
)


def test_psnr_and_ssim_of_identical_and_degraded_images():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:32]
    smooth = 0.5 * np.sin(x / 5.0 + y / 7.0)[..., None] * np.ones(3)  # (32, 32, 3)
    a = jnp.asarray(np.broadcast_to(smooth, (2, 3, 32, 32, 3)), jnp.float32)
    noisy = a + 0.2 * jnp.asarray(rng.standard_normal(a.shape), jnp.float32)
    assert float(ssim(a, a)) == 1.0
    assert float(ssim(a, noisy)) < 0.7
    # Uniform error 0.02 on a peak-to-peak range of 2: 20 log10(2 / 0.02) = 40 dB.
    np.testing.assert_allclose(float(psnr(a, a + 0.02)), 40.0, atol=1e-3)


def test_temporal_consistency_is_one_for_a_frozen_video_and_lower_for_noise():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    assert temporal_consistency(np.repeat(frame, 5, 0)) > 0.9999
    noise = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    assert temporal_consistency(noise) < 0.5


def test_shift_baseline_continues_a_pan():
    frame = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    history = np.stack([np.roll(frame, (0, k), (0, 1)) for k in range(3)])  # 1 px/frame to x
    future = shift_baseline(history, 4)
    expected = np.stack([np.roll(frame, (0, 2 + k), (0, 1)) for k in range(1, 5)])
    np.testing.assert_array_equal(future, expected)


def test_world_clips_are_fixed_unseen_worlds():
    a, b = world_clips(32, 5, 2), world_clips(32, 5, 2)
    assert a.shape == (2, 5, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_run_eval_reports_every_metric(tiny_engine):
    metrics = run_eval(tiny_engine, worlds=1, history_latents=2)
    for name in ("dit", "repeat", "shift"):
        for h in HORIZONS:
            assert np.isfinite(metrics[f"{name}_psnr_h{h}"])
    for name in ("vae_worlds_psnr", "vae_worlds_ssim", "tcs_generated", "tcs_real"):
        assert np.isfinite(metrics[name])


def test_vae_scores_pool_the_mse_and_name_each_clip(tiny_engine):
    clips = world_clips(32, 5, 2)
    scores = vae_scores(tiny_engine, clips, ["a", "b"])
    per_clip_mse = [10 ** (-scores[f"psnr_{n}"] / 10) for n in "ab"]
    assert 10 * np.log10(1 / np.mean(per_clip_mse)) == pytest.approx(scores["psnr"], abs=1e-6)
