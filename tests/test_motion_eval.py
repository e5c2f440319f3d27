"""The motion measures of `stream eval`: known answers for a perfect and a frozen continuation,
every band reported for an engine, and missing clips named."""

import math

import numpy as np

from stream.lab.evaluation import motion_clips, motion_scores
from stream.lab.motion_eval import (
    BANDS,
    CONTEXT_FRAMES,
    CONTINUATION_FRAMES,
    band_name,
    clip_measures,
    motion_report,
    repeat_predictor,
)
from stream.media.photo_worlds import PhotoWorld, PhotoWorldConfig


def _pan(size: int = 64) -> np.ndarray:
    world = PhotoWorld(PhotoWorldConfig(seed=0, size=size, motion="pan"))
    return world.frames(0, CONTEXT_FRAMES + CONTINUATION_FRAMES)


def test_a_perfect_continuation_has_no_flow_error_and_the_true_motion():
    clip = _pan()
    context, truth = clip[:CONTEXT_FRAMES], clip[CONTEXT_FRAMES:]
    measures = clip_measures(context, truth.copy(), truth)
    for band in BANDS:
        assert measures[f"flow_epe_{band_name(band)}"] == 0.0
        assert measures[f"motion_{band_name(band)}"] == 1.0
        assert measures[f"psnr_{band_name(band)}"] == math.inf


def test_repeating_the_last_frame_scores_the_true_flow_and_no_motion():
    clip = _pan()
    summary, per_clip, _ = motion_report(repeat_predictor, {"pan": clip})
    for band in BANDS:
        name = band_name(band)
        assert summary[f"flow_ratio_{name}"] == 1.0
        assert summary[f"flow_epe_{name}"] > 0.5  # the pan moves about a pixel a frame
        assert summary[f"motion_{name}"] == 0.0
        assert summary[f"worst_margin_{name}"] == 0.0
    assert per_clip["pan"]["jump"] == 0.0
    assert per_clip["pan"]["long_colour_shift"] == 0.0  # the last frame's own colour


def test_motion_scores_report_every_band_for_an_engine_and_draw_a_sheet(tiny_engine, tmp_path):
    metrics = motion_scores(tiny_engine, {"pan": _pan(size=32)}, sheet_dir=tmp_path)
    assert (tmp_path / "motion_pan.png").stat().st_size > 1000
    for band in BANDS:
        for measure in ("psnr", "repeat_psnr", "flow_epe", "flow_ratio", "motion", "worst_margin"):
            assert np.isfinite(metrics[f"motion_{measure}_{band_name(band)}"])
    assert "motion_margin_f1_8_pan" in metrics
    assert np.isfinite(metrics["motion_long_sharpness"])


def test_missing_clips_are_named_with_where_they_were_looked_for(tmp_path, capsys):
    assert motion_clips(32, [tmp_path], names=["nowhere.mp4"]) == {}
    said = capsys.readouterr().err
    assert "nowhere.mp4" in said and str(tmp_path) in said
