"""stream eval's metrics: their defining properties, and a whole (tiny) evaluation run."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from stream.lab.evaluation import (
    HORIZONS,
    SHORT_HORIZONS,
    WORLD_FG_HORIZONS,
    _stream_reconstruct,
    format_report,
    history_frames,
    quick_prediction_metrics,
    real_clip_scores,
    run_eval,
    shift_baseline,
    vae_references,
    vae_scores,
)
from stream.media.clips import video_names, world_clips
from stream.media.contact_sheet import write_contact_sheet
from stream.media.pixels import to_uint8
from stream.metrics import psnr, ssim, temporal_consistency


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


def test_run_eval_reports_every_metric_and_writes_a_sheet_per_world(tiny_engine, tmp_path):
    metrics = run_eval(tiny_engine, worlds=1, history_latents=2, sheet_dir=tmp_path)
    for name in ("dit", "repeat", "latent_repeat", "shift"):
        for h in HORIZONS:
            assert np.isfinite(metrics[f"{name}_psnr_h{h}"])
    for name in ("dit", "repeat", "latent_repeat", "shift", "erased"):
        for h in WORLD_FG_HORIZONS:
            assert np.isfinite(metrics[f"worlds_fg_{name}_psnr_c{h}"])
    for h in SHORT_HORIZONS:
        assert metrics[f"worlds_sharpness_c{h}"] > 0 and metrics[f"worlds_motion_c{h}"] > 0
    for name in ("vae_worlds_psnr", "vae_worlds_ssim", "tcs_generated", "tcs_real"):
        assert np.isfinite(metrics[name])
    assert np.isfinite(metrics["worlds_jump_ratio"])
    assert [p.name for p in tmp_path.iterdir()] == ["world0_sprites.png"]
    assert "foreground PSNR" in format_report(tiny_engine, metrics)


def test_vae_scores_pool_the_mse_and_name_each_clip(tiny_engine):
    clips = world_clips(32, 5, 2)
    scores = vae_scores(tiny_engine, clips, ["a", "b"])
    per_clip_mse = [10 ** (-scores[f"psnr_{n}"] / 10) for n in "ab"]
    assert 10 * np.log10(1 / np.mean(per_clip_mse)) == pytest.approx(scores["psnr"], abs=1e-6)


def test_vae_references_reconstruct_the_truth_and_repeat_the_last_pushed_latent(tiny_engine, clip):
    past, truth = clip[:9], clip[9:]  # 1 + 4*2 pushed, 8 true
    reconstruction, repeat = vae_references(tiny_engine, past, truth, 12)
    np.testing.assert_array_equal(
        reconstruction, to_uint8(_stream_reconstruct(tiny_engine, clip)[9:])
    )
    assert repeat.shape == (12, 32, 32, 3) and repeat.dtype == np.uint8
    # The latent repeat is the model's answer knowing only the past: the truth cannot change it.
    _, repeat_of_other = vae_references(tiny_engine, past, 255 - truth, 12)
    np.testing.assert_array_equal(repeat, repeat_of_other)


def test_a_folders_videos_are_listed_sorted_and_nothing_else(tmp_path):
    for name in ("b.MP4", "a.gif", "notes.txt", "c.wmv"):
        (tmp_path / name).write_bytes(b"")
    assert video_names(tmp_path) == ["a.gif", "b.MP4", "c.wmv"]


def test_history_is_shortened_so_a_short_clip_is_never_looped():
    assert history_frames("long", 100, 9, 32) == 33
    assert history_frames("short", 50, 9, 32) == 17  # 17 + 32 <= 50 < 21 + 32
    with pytest.raises(ValueError, match="tiny"):
        history_frames("tiny", 36, 9, 32)


def test_real_clip_scores_name_each_clip_and_measure_context(tiny_engine, tmp_path):
    clips = dict(zip(("a.mp4", "b.mp4"), world_clips(32, 9 + 16, 2), strict=True))
    metrics = real_clip_scores(tiny_engine, clips, 3, "attention", (1, 2), sheet_dir=tmp_path)
    for key in ("dit_psnr_c1", "repeat_psnr_c2", "latent_repeat_psnr_c1", "vae_psnr_c2"):
        values = [metrics[f"real_{key}_{name}"] for name in clips]
        assert metrics[f"real_{key}"] == pytest.approx(np.mean(values))
    for h in (1, 2):
        assert metrics[f"context_ratio_c{h}"] == pytest.approx(
            metrics[f"context_inputs_mad_c{h}"] / metrics[f"context_seeds_mad_c{h}"]
        )
        assert metrics[f"context_truth_mad_c{h}"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real_a.png", "real_b.png"]


def test_quick_prediction_metrics_fall_back_to_worlds_without_held_out_clips(tiny_engine):
    metrics = quick_prediction_metrics(tiny_engine, clips=2, chunks=1, history_latents=2)
    assert np.isfinite(metrics["worlds_quick_dit_psnr_c1"])
    assert np.isfinite(metrics["worlds_quick_latent_repeat_psnr_c1"])
    assert "context_ratio_c1" in metrics and not any(k.startswith("real_") for k in metrics)


def test_contact_sheet_upscales_by_nearest_neighbour(tmp_path):
    import matplotlib.image

    frames = np.random.default_rng(3).integers(0, 256, (2, 4, 5, 5, 3), dtype=np.uint8)
    path = write_contact_sheet(tmp_path / "s.png", [("a", frames[0]), ("b", frames[1])], "wxyz")
    image = matplotlib.image.imread(path)  # (H, W, 4) float in [0, 1]
    pixels = np.round(image[..., :3] * 255).astype(np.uint8)
    bottom_right = pixels[-2 - 15 : -2, -2 - 15 : -2]  # the last tile, 3x upscaled, then a margin
    np.testing.assert_array_equal(bottom_right, frames[1, 3].repeat(3, 0).repeat(3, 1))
