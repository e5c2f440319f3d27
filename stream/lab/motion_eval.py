"""Does the continuation move like the truth? Measures of motion per horizon band, on real clips.

Each clip is given its first CONTEXT_FRAMES frames and continued CONTINUATION_FRAMES frames by a
predictor (a function of the context frames); the continuation is judged in BANDS of frames ahead
against the clip's true frames and against repeating the last given frame:
- psnr, repeat_psnr: PSNR of the band's frames (dB);
- flow_epe, repeat_flow_epe: mean end-point error (pixels) between the prediction's
  consecutive-frame optical flow and the truth's (repeat-last's is the true flow's size);
- flow_ratio = flow_epe / repeat_flow_epe (below 1: closer to the true motion than no motion);
- motion: mean frame-to-frame change of the prediction over the truth's (a frozen prediction
  scores 0, a dissolving one little, invented motion above 1);
- jump: the step from the last given frame into the first predicted one over the mean step of the
  given frames (a cut or a washed-out first frame scores far above 1);
- long_sharpness, long_colour_shift: in the last second of a 10-second extension, the sharpness
  over the given frames' and the largest shift of a channel's mean colour from the last given
  frame (a picture that dissolves or drifts to brown mottle fails both).
The first step of each band is from the frame before it (the last given frame for the first band).
Summaries over clips: the mean of the dB values and of the flow ratios, the worst clip's margin
over repeat-last, and the mean |ln motion| over frames 1-16.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from stream.media.contact_sheet import write_contact_sheet
from stream.media.pixels import to_uint8, to_unit
from stream.metrics import (
    endpoint_error,
    frame_psnr,
    laplacian_variance,
    mean_abs_difference,
    mean_motion,
    motion_ratio,
    optical_flow,
    ratio,
)
from stream.model.motion_net import MotionNet, rollout

if TYPE_CHECKING:
    from stream.runtime.engine import Engine

CONTEXT_FRAMES = 33  # frame 0 and eight groups of 4: nine latent frames
CONTINUATION_FRAMES = 32
BANDS: tuple[tuple[int, int], ...] = ((1, 8), (9, 16), (17, 32))  # frames ahead, 1-based, inclusive

# A 10-second extension at the model's 16 frames per second; its last second is judged.
LONG_FRAMES = 160
LONG_TAIL = 16
SHEET_AHEAD = (1, 4, 8, 16, 24, 32, 80, 160)  # frames ahead shown on a motion contact sheet

# (context uint8 (C, S, S, 3), count) -> continuation uint8 (count, S, S, 3)
Predictor = Callable[[np.ndarray, int], np.ndarray]


def repeat_predictor(context: np.ndarray, count: int) -> np.ndarray:
    """The trivial baseline: the last given frame, again and again."""
    return np.repeat(context[-1:], count, axis=0)


def engine_predictor(engine: Engine, seed: int = 0) -> Predictor:
    """A session of `engine` at its defaults: push the context, extend."""

    def predict(context: np.ndarray, count: int) -> np.ndarray:
        session = engine.open(seed=seed)
        session.push(context)
        return session.extend(count)

    return predict


def motion_net_predictor(model: MotionNet, steps_per_call: int = 8) -> Predictor:
    """The motion predictor alone: the last given frame warped forward, frame by frame (its own
    frames fed back unrounded, as in training), `steps_per_call` (>= 2) frames per call."""
    step = nnx.jit(lambda m, a, b: rollout(m, a, b, steps_per_call)[0])

    def predict(context: np.ndarray, count: int) -> np.ndarray:
        pair = jnp.asarray(to_unit(context[-2:]))[:, None]  # (2, 1, S, S, 3)
        previous, last = pair[0], pair[1]
        pieces = []
        for _ in range(-(-count // steps_per_call)):
            frames = step(model, previous, last)  # (1, steps, S, S, 3)
            pieces.append(np.asarray(to_uint8(frames[0])))
            previous, last = frames[:, -2], frames[:, -1]
        return np.concatenate(pieces)[:count]

    return predict


def band_name(band: tuple[int, int]) -> str:
    return f"f{band[0]}_{band[1]}"


def long_measures(context: np.ndarray, extension: np.ndarray) -> dict[str, float]:
    """Does a long extension keep the scene? In its last LONG_TAIL frames: sharpness (variance
    of the Laplacian) over the given frames', and the largest shift of a channel's mean colour
    (0-255) from the last given frame's."""
    tail = extension[-LONG_TAIL:].astype(np.float64)
    colour = tail.mean((0, 1, 2)) - context[-1].astype(np.float64).mean((0, 1))  # (3,)
    return {
        "long_sharpness": ratio(
            float(laplacian_variance(tail).mean()), float(laplacian_variance(context).mean())
        ),
        "long_colour_shift": float(np.abs(colour).max()),
    }


def clip_measures(
    context: np.ndarray, predicted: np.ndarray, truth: np.ndarray
) -> dict[str, float]:
    """Every measure of one continuation: context (C, S, S, 3), predicted (at least T frames)
    and truth (T, S, S, 3), uint8. Keys "<measure>_<band>" and "jump"; with a LONG_FRAMES
    prediction, long_measures' too."""
    measures = long_measures(context, predicted) if len(predicted) >= LONG_FRAMES else {}
    predicted = predicted[: len(truth)]
    last = context[-1:]
    predicted_run = np.concatenate([last, predicted])  # (T + 1, S, S, 3)
    true_run = np.concatenate([last, truth])
    repeat_run = np.repeat(last, len(true_run), axis=0)
    measures["jump"] = ratio(mean_abs_difference(predicted[0], last[0]), mean_motion(context))
    # Each pair's flow is estimated on its own, so a band's flows are a slice of the whole run's.
    predicted_flow = optical_flow(predicted_run)  # (T, S, S, 2)
    true_flow = optical_flow(true_run)
    for band in BANDS:
        span = slice(band[0] - 1, band[1] + 1)  # the frame before the band, then the band
        steps = slice(band[0] - 1, band[1])  # the flows between those frames
        name = band_name(band)
        epe = endpoint_error(predicted_flow[steps], true_flow[steps])
        repeat_epe = endpoint_error(true_flow[steps], np.zeros(2))
        measures |= {
            f"psnr_{name}": frame_psnr(predicted_run[span][1:], true_run[span][1:]),
            f"repeat_psnr_{name}": frame_psnr(repeat_run[span][1:], true_run[span][1:]),
            f"flow_epe_{name}": epe,
            f"repeat_flow_epe_{name}": repeat_epe,
            f"flow_ratio_{name}": ratio(epe, repeat_epe),
            f"motion_{name}": motion_ratio(predicted_run[span], true_run[span]),
        }
    return measures


def summarise(per_clip: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Means over clips of every measure, the worst clip's PSNR margin over repeat-last per band,
    and the mean |ln motion| over frames 1-16."""
    names = next(iter(per_clip.values())).keys()
    summary = {name: float(np.mean([m[name] for m in per_clip.values()])) for name in names}
    for band in BANDS:
        band_key = band_name(band)
        margins = [m[f"psnr_{band_key}"] - m[f"repeat_psnr_{band_key}"] for m in per_clip.values()]
        summary[f"worst_margin_{band_key}"] = float(np.min(margins))
    early = [band_name(b) for b in BANDS if b[1] <= 16]
    summary["motion_log_error_f1_16"] = float(
        np.mean(
            [abs(math.log(max(m[f"motion_{b}"], 1e-6))) for m in per_clip.values() for b in early]
        )
    )
    return summary


def motion_report(
    predictor: Predictor,
    clips: Mapping[str, np.ndarray],
    desc: str = "motion",
    long: bool = True,
) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """(summary, measures per clip, continuation per clip) of `predictor` on uint8 clips
    (>= CONTEXT_FRAMES + CONTINUATION_FRAMES frames each); `long`: a LONG_FRAMES extension, the
    first CONTINUATION_FRAMES of which are judged against the truth."""
    per_clip, continuations = {}, {}
    count = LONG_FRAMES if long else CONTINUATION_FRAMES
    for name, clip in tqdm(clips.items(), desc=desc, unit="clip"):
        context = clip[:CONTEXT_FRAMES]
        truth = clip[CONTEXT_FRAMES : CONTEXT_FRAMES + CONTINUATION_FRAMES]
        continuations[name] = predictor(context, count)
        per_clip[name] = clip_measures(context, continuations[name], truth)
    return summarise(per_clip), per_clip, continuations


def write_motion_sheet(
    path: Path, clip: np.ndarray, continuations: Mapping[str, np.ndarray], title: str
) -> Path:
    """A contact sheet: the truth (where the clip has it) and each continuation at SHEET_AHEAD
    frames ahead, the last given frame first."""
    last = clip[CONTEXT_FRAMES - 1]
    longest = max(len(c) for c in continuations.values())
    ahead = [a for a in SHEET_AHEAD if a <= longest]
    blank = np.full_like(last, 255)

    def row(frames: np.ndarray) -> np.ndarray:
        picked = [frames[a - 1] if a <= len(frames) else blank for a in ahead]
        return np.stack([last, *picked])

    rows = [("truth", row(clip[CONTEXT_FRAMES:]))]
    rows += [(name, row(frames)) for name, frames in continuations.items()]
    return write_contact_sheet(path, rows, ["last given"] + [f"+{a}" for a in ahead], title)
