"""`stream eval`: the model card's numbers, reproducible by anyone.

- VAE: PSNR and SSIM of reconstruction (from the latent mean, as the engine encodes) on the
  held-out real clips and on world videos of seeds never trained on.
- DiT: prediction PSNR against the true continuation of world videos at horizons of 1, 4, 16 and
  64 chunks (the PSNR of the frames of that chunk), next to two baselines: repeating the last
  frame, and shifting the last frame by the previous frame-to-frame motion (the global integer
  translation between the last two frames, found by phase correlation, continued linearly).
- Temporal consistency score (DESIGN.md 2.3) of the generated and of the real continuation, with
  features = the frame area-downsampled to 16x16, minus its mean colour (so a flat brightness
  does not make every pair similar), flattened.
- Measures that erasing or blurring the content cannot pass (DESIGN.md 6; the functions are in
  stream/metrics.py), below. "c<h>" names the h-th chunk ahead (8 frames for the
  shipped model) at SHORT_HORIZONS = 1, 2 and 4 chunks; the model is always seed 0.

  Held-out real clips (engine.info["held_out"]), each pushed 33 frames (9 latent frames; fewer
  whole groups of 4 if a clip could not also hold the 32 true frames after them: the truth is
  never looped) and extended 4 chunks. "<key>_<clip>" is one clip, "<key>" the mean over clips
  in log space: the mean of the dB values, the geometric mean of the ratios (so that a still
  clip with invented motion at 30x does not outweigh every other clip):
  - real_{dit,repeat,latent_repeat,vae}_psnr_c<h>: prediction PSNR of the model, of repeating
    the last pushed frame, of the latent repeat (the last pushed latent frame decoded again and
    again by the streaming decoder, from its state after the pushed latents: the model's own
    trivial answer), and of the VAE's reconstruction of the true frames (the ceiling);
  - real_sharpness_c<h>: variance of the Laplacian of the predicted frames over that of the
    VAE's reconstruction of the true frames (streamed through the whole clip);
  - real_motion_c<h>: mean |frame_t - frame_t-1| of the prediction over the truth's (the first
    step of chunk 1 is from the last pushed frame);
  - real_jump_ratio: |first predicted - last pushed| over |first true - last pushed|.
  - context_{inputs,seeds}_mad_c<h>: mean absolute difference (0-255) between predictions of
    two different held-out clips with one seed (seeds 0 and 1, averaged), and between seeds 0
    and 1 on one clip (averaged over clips); context_ratio_c<h> = inputs / seeds (a model that
    follows its input is far above 1); context_truth_mad_c<h>: the same distance between the
    true continuations of two clips, the scale of "different".
  World videos (the same as the whole-frame table above):
  - latent_repeat_psnr_h<h>: the latent repeat on the whole frame, at HORIZONS;
  - worlds_fg_{dit,repeat,latent_repeat,shift,erased}_psnr_c<h>: PSNR inside the true sprite
    masks (World.foreground > 0.5) at 1, 2, 4, 16 and 64 chunks, pooled MSE over worlds;
    "erased" is the true background without the sprites (World.background), the best any
    prediction that erases them can score: only a margin above it shows sprites were kept;
  - worlds_sharpness_c<h>, worlds_motion_c<h>, worlds_jump_ratio: as for real clips, geometric
    mean over worlds.
  Motion on the held-out real clips (stream.media.clips.HELD_OUT, found in the shared folders),
  each given its first 33 frames and continued 32 (stream/lab/motion_eval.py says how):
  - motion_{psnr,repeat_psnr,flow_epe,repeat_flow_epe,flow_ratio,motion}_f<a>_<b>: means over
    clips at frames a-b ahead (1-8, 9-16, 17-32); motion_worst_margin_f<a>_<b>: the worst clip's
    PSNR minus repeat-last's; motion_motion_log_error_f1_16: mean |ln motion ratio| over
    frames 1-16; motion_jump: the step into the first predicted frame over the mean step of the
    given frames; motion_long_{sharpness,colour_shift}: the last second of a 10-second
    extension against the given frames; motion_margin_f1_8_<clip>: one clip's PSNR minus
    repeat-last's at frames 1-8. With --sheet, a motion sheet per clip (motion_<clip>.png).
`stream eval --sheet DIR` also writes a contact sheet PNG per held-out clip and per world:
truth, the model, the VAE's reconstruction and the latent repeat at a few frames ahead.
`quick_prediction_metrics` measures a few of these cheaply, for a training loop's periodic eval.
Generation goes through the public Engine/Session API. Fixed seeds: the same model and machine
give the same numbers.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from stream.lab.motion_eval import (
    BANDS,
    CONTEXT_FRAMES,
    CONTINUATION_FRAMES,
    Predictor,
    band_name,
    engine_predictor,
    motion_report,
    write_motion_sheet,
)
from stream.lab.stages import Stages
from stream.media.clips import (
    EVAL_WORLD_SEED,
    HELD_OUT,
    default_video_dir,
    eval_worlds,
    find_clips,
    read_clips,
    video_clips,
    world_clips,
    world_name,
)
from stream.media.contact_sheet import write_contact_sheet
from stream.media.pixels import to_uint8, to_unit
from stream.media.video_io import read_video
from stream.metrics import (
    chunk_span,
    context_distances,
    foreground_mse,
    jump_ratio,
    mean_pairwise_distance,
    motion_ratio,
    psnr_from_mse,
    ratio,
    sharpness_ratio,
    ssim,
    temporal_consistency,
)
from stream.model.vae import TEMPORAL_FACTOR
from stream.runtime.anchor import DEFAULT_ANCHOR

if TYPE_CHECKING:
    from stream.runtime.engine import Engine


HORIZONS: tuple[int, ...] = (1, 4, 16, 64)  # chunks ahead, whole-frame PSNR on worlds
SHORT_HORIZONS: tuple[int, ...] = (1, 2, 4)  # chunks ahead of the measures on real clips
WORLD_FG_HORIZONS: tuple[int, ...] = tuple(sorted(set(HORIZONS) | set(SHORT_HORIZONS)))
CONTEXT_SEEDS: tuple[int, ...] = (0, 1)  # the model's seed first
SHEET_FRAMES: tuple[int, ...] = (1, 4, 8, 16, 24, 32)  # frames ahead shown on a contact sheet


def _stream_groups(
    engine: Engine, clip: np.ndarray
) -> Iterator[tuple[int, jax.Array, np.ndarray, Any]]:
    """Encode and decode a uint8 (1+4k, S, S, 3) clip through the live loop's streaming stages,
    group by group as a session does (frame 0 alone, then groups of 4).

    Yields (frames consumed so far, the group's latent frame (1, 1, s, s, C), the group's
    decoded frames float (1 or 4, S, S, 3) in [-1, 1] unclipped, the decoder state after it).
    """
    stages = Stages(engine)
    encoder, decoder = stages.new_encoder_state(), stages.new_decoder_state()
    frames = jnp.asarray(to_unit(clip))[None]  # (1, T, S, S, 3)
    for start, stop in [(0, 1)] + [(i, i + TEMPORAL_FACTOR) for i in range(1, len(clip), 4)]:
        latent, encoder = stages.encode(frames[:, start:stop], encoder)
        decoded, decoder = stages.decode(latent, decoder)  # (1, 4, S, S, 3)
        yield stop, latent, np.asarray(decoded[0, -(stop - start) :]), decoder


def _stream_reconstruct(engine: Engine, clip: np.ndarray) -> np.ndarray:
    """Encode and decode a uint8 (1+4k, S, S, 3) clip through the live loop's streaming stages."""
    decoded = [frames for _, _, frames, _ in _stream_groups(engine, clip)]
    return np.clip(np.concatenate(decoded), -1.0, 1.0)  # (T, S, S, 3)


def vae_references(
    engine: Engine, past: np.ndarray, truth: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The VAE's two references for a continuation of the pushed frames past (1+4k, S, S, 3):

    - its reconstruction of truth (4m, S, S, 3), streamed on from past as one clip: uint8
      (4m, S, S, 3), the sharpest and closest a latent model's prediction can be;
    - the latent repeat: the last pushed latent frame decoded again and again from the decoder
      state a session has after the push: uint8 (count, S, S, 3), the model's trivial answer.
    """
    decoded = []
    repeat = None
    for consumed, latent, frames, decoder in _stream_groups(engine, np.concatenate([past, truth])):
        decoded.append(frames)
        if consumed == len(past):
            latents = jnp.repeat(latent, -(-count // TEMPORAL_FACTOR), axis=1)  # (1, L, s, s, C)
            repeat, _ = Stages(engine).decode_frames(latents, decoder)  # (4L, S, S, 3) uint8
    assert repeat is not None, "past must hold 1 + 4k frames"
    reconstruction = to_uint8(np.concatenate(decoded)[len(past) :])  # (4m, S, S, 3)
    return reconstruction, repeat[:count]


def vae_scores(engine: Engine, clips: np.ndarray, names: Sequence[str] = ()) -> dict[str, float]:
    """PSNR (pooled MSE) and mean SSIM of reconstructing uint8 clips (N, T, S, S, 3), and the
    PSNR of each clip given a name, as "psnr_<name>"."""
    recon = np.stack([_stream_reconstruct(engine, clip) for clip in clips])
    target = to_unit(clips)
    mse = np.mean(np.square((recon - target) * 127.5), axis=(1, 2, 3, 4))  # (N,)
    scores = {
        "psnr": psnr_from_mse(float(mse.mean())),
        "ssim": float(ssim(jnp.asarray(recon), jnp.asarray(target))),
    }
    scores.update(
        {f"psnr_{name}": psnr_from_mse(float(m)) for name, m in zip(names, mse, strict=False)}
    )
    return scores


def _phase_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Integer (dy, dx) with b ~ roll(a, (dy, dx)), by phase correlation of the grey images."""
    fa, fb = np.fft.fft2(a.mean(-1)), np.fft.fft2(b.mean(-1))
    cross = fb * np.conj(fa)
    corr = np.fft.ifft2(cross / np.maximum(np.abs(cross), 1e-9)).real
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    h, w = corr.shape
    return int((dy + h // 2) % h - h // 2), int((dx + w // 2) % w - w // 2)


def shift_baseline(history: np.ndarray, count: int) -> np.ndarray:
    """The last frame moved on by the last frame-to-frame translation, k times for frame k."""
    dy, dx = _phase_shift(history[-2].astype(np.float32), history[-1].astype(np.float32))
    return np.stack([np.roll(history[-1], (k * dy, k * dx), (0, 1)) for k in range(1, count + 1)])


@dataclasses.dataclass(frozen=True)
class Continuation:
    """One clip continued by the model, with what it is judged against; uint8 frames."""

    past: np.ndarray  # (P, S, S, 3) the pushed frames, P = 1 + 4k
    truth: np.ndarray  # (F, S, S, 3) the true next frames
    predicted: dict[int, np.ndarray]  # seed -> (F, S, S, 3) the model's continuation
    latent_repeat: np.ndarray  # (F, S, S, 3) see vae_references
    reconstruction: np.ndarray  # (R, S, S, 3) the VAE's reconstruction of truth[:R]

    @property
    def prediction(self) -> np.ndarray:
        """The continuation of the first seed (the one every score is of)."""
        return next(iter(self.predicted.values()))  # (F, S, S, 3)


def continue_clip(
    engine: Engine,
    past: np.ndarray,
    truth: np.ndarray,
    anchor: str,
    seeds: Sequence[int] = (0,),
    reconstruct: int | None = None,
) -> Continuation:
    """Push past (1+4k, S, S, 3) into a fresh session per seed and extend it len(truth) frames;
    reconstruct the first `reconstruct` true frames (a multiple of 4; default all)."""
    predicted = {}
    for seed in seeds:
        session = engine.open(anchor=anchor, seed=seed)
        session.push(past)
        predicted[seed] = session.extend(len(truth))  # (F, S, S, 3)
    reconstruction, repeat = vae_references(engine, past, truth[:reconstruct], len(truth))
    return Continuation(past, truth, predicted, repeat, reconstruction)


def mse_by_horizon(
    predictions: Mapping[str, np.ndarray],
    truth: np.ndarray,
    per_chunk: int,
    horizons: Sequence[int],
    mask: np.ndarray | None = None,
) -> dict[tuple[str, int], float]:
    """(name, h) -> MSE (0-255 scale) of each prediction (F, S, S, 3) against truth over the
    frames of the h-th chunk ahead; inside mask (F, S, S) only, when given."""
    errors = {}
    for name, predicted in predictions.items():
        for h in horizons:
            span = chunk_span(h, per_chunk)
            if mask is None:
                diff = predicted[span].astype(np.float64) - truth[span]  # (per_chunk, S, S, 3)
                errors[name, h] = float(np.mean(np.square(diff)))
            else:
                errors[name, h] = foreground_mse(predicted[span], truth[span], mask[span])
    return errors


def quality_scores(
    continuation: Continuation, per_chunk: int, horizons: Sequence[int]
) -> dict[str, float]:
    """sharpness_c<h>, motion_c<h> and jump_ratio of a continuation's prediction (see the
    module docstring); horizons must lie within its reconstruction."""
    c = continuation
    predicted = c.prediction  # (F, S, S, 3)
    # The frame before each span: the first chunk's first step is the one from the last pushed.
    predicted_from_last = np.concatenate([c.past[-1:], predicted])  # (1+F, S, S, 3)
    truth_from_last = np.concatenate([c.past[-1:], c.truth])  # (1+F, S, S, 3)
    scores = {}
    for h in horizons:
        span = chunk_span(h, per_chunk)
        with_previous = slice(span.start, span.stop + 1)
        scores[f"sharpness_c{h}"] = sharpness_ratio(predicted[span], c.reconstruction[span])
        scores[f"motion_c{h}"] = motion_ratio(
            predicted_from_last[with_previous], truth_from_last[with_previous]
        )
    scores["jump_ratio"] = jump_ratio(c.past[-1], predicted[0], c.truth[0])
    return scores


def mean_over_clips(key: str, values: Sequence[float]) -> float:
    """The mean of one measure over clips, in log space: dB values (already logarithms) are
    averaged, ratios are averaged geometrically (a ratio 0 gives 0, an infinite one inf)."""
    if "psnr" in key:
        return float(np.mean(values))
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(values))))


def _write_sheet(
    sheet_dir: Path, name: str, title: str, continuation: Continuation, per_chunk: int
) -> Path:
    """Truth above the model, then the VAE's reconstruction and the latent repeat, from the
    last pushed frame to SHEET_FRAMES frames ahead (those the continuation holds)."""
    c = continuation
    ahead = [k for k in SHEET_FRAMES if k <= min(len(c.truth), len(c.reconstruction))]
    rows = [
        ("truth", c.truth),
        ("model", c.prediction),
        ("VAE recon.", c.reconstruction),
        ("latent repeat", c.latent_repeat),
    ]
    columns = ["last pushed"] + [f"+{k} (c{(k - 1) // per_chunk + 1})" for k in ahead]
    return write_contact_sheet(
        sheet_dir / f"{name}.png",
        [(label, np.stack([c.past[-1]] + [v[k - 1] for k in ahead])) for label, v in rows],
        columns,
        title,
    )


def prediction_scores(
    engine: Engine,
    worlds: int,
    history_latents: int,
    anchor: str,
    progress: tqdm,
    sheet_dir: Path | None = None,
) -> dict[str, float]:
    """On world videos: whole-frame prediction PSNR at HORIZONS of the model and the baselines,
    foreground PSNR at WORLD_FG_HORIZONS, sharpness, motion and jump, and TCS."""
    per_chunk = engine.config.frames_per_chunk
    history = 1 + TEMPORAL_FACTOR * (history_latents - 1)
    future = per_chunk * max(HORIZONS)
    whole: dict[tuple[str, int], float] = {}
    foreground: dict[tuple[str, int], float] = {}
    quality, tcs_generated, tcs_real = [], [], []
    for index, world in enumerate(eval_worlds(engine.config.image_size, worlds)):
        video = world.frames(0, history + future)  # (T, S, S, 3)
        past, truth = video[:history], video[history:]
        short = per_chunk * max(SHORT_HORIZONS)
        continuation = continue_clip(engine, past, truth, anchor, reconstruct=short)
        predictions = {
            "dit": continuation.prediction,
            "repeat": np.broadcast_to(past[-1], truth.shape),
            "latent_repeat": continuation.latent_repeat,
            "shift": shift_baseline(past, future),
        }
        mask = world.foreground(history, future) > 0.5  # (F, S, S)
        erased = {"erased": world.background(history, future)}  # (F, S, S, 3)
        fg = WORLD_FG_HORIZONS
        for pooled, errors in (
            (whole, mse_by_horizon(predictions, truth, per_chunk, HORIZONS)),
            (foreground, mse_by_horizon(predictions | erased, truth, per_chunk, fg, mask)),
        ):
            for key, mse in errors.items():
                pooled[key] = pooled.get(key, 0.0) + mse / worlds
        quality.append(quality_scores(continuation, per_chunk, SHORT_HORIZONS))
        tcs_generated.append(temporal_consistency(continuation.prediction))
        tcs_real.append(temporal_consistency(truth))
        if sheet_dir is not None:
            title = f"{world_name(index)} (seed {EVAL_WORLD_SEED + index}), {engine.name}"
            _write_sheet(sheet_dir, world_name(index), title, continuation, per_chunk)
        progress.update(1)
    scores = {f"{name}_psnr_h{h}": psnr_from_mse(mse) for (name, h), mse in whole.items()}
    scores["tcs_generated"] = float(np.mean(tcs_generated))
    scores["tcs_real"] = float(np.mean(tcs_real))
    scores.update(
        {f"worlds_fg_{name}_psnr_c{h}": psnr_from_mse(mse) for (name, h), mse in foreground.items()}
    )
    scores.update(
        {f"worlds_{key}": mean_over_clips(key, [q[key] for q in quality]) for key in quality[0]}
    )
    return scores


def history_frames(name: str, frames: int, history_latents: int, future: int) -> int:
    """Frames to push from a clip of `frames` frames: 1 + 4 (history_latents - 1), or fewer
    whole groups of 4 when the clip could not also hold the `future` true frames after them (a
    looped clip would make a false truth); at least 5 (two latent frames)."""
    latents = min(history_latents, (frames - future - 1) // TEMPORAL_FACTOR + 1)
    if latents < 2:
        raise ValueError(
            f"{name}: {frames} frames cannot hold 5 pushed frames and {future} true ones after"
        )
    return 1 + TEMPORAL_FACTOR * (latents - 1)


def real_clip_scores(
    engine: Engine,
    clips: Mapping[str, np.ndarray],
    history_latents: int,
    anchor: str,
    horizons: Sequence[int] = SHORT_HORIZONS,
    seeds: Sequence[int] = CONTEXT_SEEDS,
    prefix: str = "real",
    progress: tqdm | None = None,
    sheet_dir: Path | None = None,
) -> dict[str, float]:
    """The measures of the module docstring on uint8 clips name -> (T, S, S, 3): per clip
    "<prefix>_<key>_<name>", their mean "<prefix>_<key>", and context_* with two clips or more
    and two seeds or more (the first seed is the one scored)."""
    per_chunk = engine.config.frames_per_chunk
    future = per_chunk * max(horizons)
    per_clip: dict[str, dict[str, float]] = {}
    predicted, truths = [], []
    for name, clip in clips.items():
        history = history_frames(name, len(clip), history_latents, future)
        past, truth = clip[:history], clip[history : history + future]
        continuation = continue_clip(engine, past, truth, anchor, seeds)
        predictions = {
            "dit": continuation.prediction,
            "repeat": np.broadcast_to(past[-1], truth.shape),
            "latent_repeat": continuation.latent_repeat,
            "vae": continuation.reconstruction,
        }
        errors = mse_by_horizon(predictions, truth, per_chunk, horizons)
        scores = {f"{key}_psnr_c{h}": psnr_from_mse(mse) for (key, h), mse in errors.items()}
        scores.update(quality_scores(continuation, per_chunk, horizons))
        per_clip[name] = scores
        predicted.append(np.stack(list(continuation.predicted.values())))  # (K, F, S, S, 3)
        truths.append(truth)
        if sheet_dir is not None:
            title = f"{name}: {history} frames pushed, seed {seeds[0]}, {engine.name}"
            _write_sheet(sheet_dir, f"{prefix}_{Path(name).stem}", title, continuation, per_chunk)
        if progress is not None:
            progress.update(1)
    metrics: dict[str, float] = {}
    for key in next(iter(per_clip.values())):
        metrics[f"{prefix}_{key}"] = mean_over_clips(key, [s[key] for s in per_clip.values()])
        metrics.update({f"{prefix}_{key}_{name}": s[key] for name, s in per_clip.items()})
    if len(clips) >= 2 and len(seeds) >= 2:
        predicted_all = np.stack(predicted)  # (I, K, F, S, S, 3)
        truth_all = np.stack(truths)  # (I, F, S, S, 3)
        for h in horizons:
            span = chunk_span(h, per_chunk)
            inputs, seeds_apart = context_distances(predicted_all[:, :, span])
            metrics[f"context_inputs_mad_c{h}"] = inputs
            metrics[f"context_seeds_mad_c{h}"] = seeds_apart
            metrics[f"context_ratio_c{h}"] = ratio(inputs, seeds_apart)
            metrics[f"context_truth_mad_c{h}"] = mean_pairwise_distance(truth_all[:, span])
    return metrics


def _held_out(engine: Engine, video_dir: Path) -> list[str]:
    return [n for n in engine.info.get("held_out", []) if (video_dir / n).exists()]


def quick_prediction_metrics(
    engine: Engine,
    video_dir: Path | None = None,
    clips: int = 2,
    chunks: int = 2,
    history_latents: int = 9,
    anchor: str = DEFAULT_ANCHOR,
    seeds: Sequence[int] = CONTEXT_SEEDS,
) -> dict[str, float]:
    """A few of the measures, cheap enough for a training run's periodic eval: `clips` held-out
    clips (engine.info["held_out"] found in video_dir), each continued `chunks` chunks once per
    seed; keys as run_eval's real_* and context_* at horizons 1..chunks. Without held-out clips
    it uses that many world videos instead, with the prefix "worlds_quick" (so the two are never
    mixed up in a log). Cost: clips x len(seeds) x chunks generated chunks, and the VAE's
    streaming pass over each clip."""
    video_dir = video_dir or default_video_dir()
    size = engine.config.image_size
    horizons = tuple(range(1, chunks + 1))
    frames = 1 + TEMPORAL_FACTOR * (history_latents - 1) + engine.config.frames_per_chunk * chunks
    names = _held_out(engine, video_dir)[:clips]
    if names:
        loaded, prefix = read_clips(video_dir, names, size, frames), "real"
    else:
        videos = world_clips(size, frames, clips)  # (N, T, S, S, 3)
        loaded = {world_name(i): video for i, video in enumerate(videos)}
        prefix = "worlds_quick"
    return real_clip_scores(engine, loaded, history_latents, anchor, horizons, seeds, prefix)


def motion_clips(
    size: int, folders: Sequence[Path], names: Sequence[str] = HELD_OUT
) -> dict[str, np.ndarray]:
    """The named clips found in `folders`, first 33 + 32 frames at the model's size; says on
    stderr which are missing or too short, and why."""
    needed = CONTEXT_FRAMES + CONTINUATION_FRAMES
    found = find_clips(names, folders)
    missing = [name for name in names if name not in found]
    if missing:
        tqdm.write(
            f"eval: {len(missing)} of {len(names)} held-out clips are not in "
            f"{', '.join(map(str, folders))} and are left out of the motion measures: "
            f"{', '.join(missing)}",
            file=sys.stderr,
        )
    clips = {
        name: read_video(path, size=size, max_frames=needed)[0] for name, path in found.items()
    }
    short = [name for name, clip in clips.items() if len(clip) < needed]
    if short:
        tqdm.write(
            f"eval: left out of the motion measures, shorter than {needed} frames: "
            f"{', '.join(short)}",
            file=sys.stderr,
        )
    return {name: clip for name, clip in clips.items() if len(clip) >= needed}


def motion_scores(
    engine: Engine, clips: Mapping[str, np.ndarray], sheet_dir: Path | None = None
) -> dict[str, float]:
    """The motion measures of the engine's default sessions on the clips, keys "motion_*";
    with sheet_dir, a motion contact sheet per clip."""
    return predictor_motion_scores(engine_predictor(engine), engine.name, clips, sheet_dir)


def predictor_motion_scores(
    predictor: Predictor,
    name: str,
    clips: Mapping[str, np.ndarray],
    sheet_dir: Path | None = None,
) -> dict[str, float]:
    """motion_scores of any predictor (`name` labels its sheets)."""
    summary, per_clip, continuations = motion_report(predictor, clips, desc="eval motion")
    if sheet_dir is not None:
        sheet_dir.mkdir(parents=True, exist_ok=True)
        for clip_name, clip in clips.items():
            write_motion_sheet(
                sheet_dir / f"motion_{clip_name}.png",
                clip,
                {name: continuations[clip_name]},
                f"{name}: {clip_name}, {CONTEXT_FRAMES} frames given",
            )
    metrics = {f"motion_{key}": value for key, value in summary.items()}
    for clip, measures in per_clip.items():
        margin = measures["psnr_f1_8"] - measures["repeat_psnr_f1_8"]
        metrics[f"motion_margin_f1_8_{clip}"] = margin
    return metrics


def run_eval(
    engine: Engine,
    video_dir: Path | None = None,
    worlds: int = 6,
    history_latents: int = 9,
    anchor: str = DEFAULT_ANCHOR,
    sheet_dir: Path | None = None,
    clips: Sequence[str] | None = None,
    moving_clips: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Every model-card metric as a flat dict name -> float; with sheet_dir, contact sheets. The
    real clips judged are `clips` in video_dir, by default the model's held-out clips found
    there; the motion measures are taken on `moving_clips` (motion_clips gives them)."""
    video_dir = video_dir or default_video_dir()
    size = engine.config.image_size
    held_out = list(clips) if clips is not None else _held_out(engine, video_dir)
    if not held_out:
        named = ", ".join(engine.info.get("held_out", [])) or "none named"
        tqdm.write(
            f"eval: none of the model's held-out clips ({named}) is in {video_dir}: "
            "the held-out real-clip measures are left out",
            file=sys.stderr,
        )
    metrics: dict[str, float] = {}
    with tqdm(total=2 + worlds + len(held_out), desc="eval", unit="part") as progress:
        for name, value in vae_scores(engine, world_clips(size, 33, worlds, start=40)).items():
            metrics[f"vae_worlds_{name}"] = value
        progress.update(1)
        if held_out:
            vae_clips = video_clips(video_dir, held_out, size, 33)
            for name, value in vae_scores(engine, vae_clips, held_out).items():
                metrics[f"vae_held_out_{name}"] = value
        progress.update(1)
        metrics.update(
            prediction_scores(engine, worlds, history_latents, anchor, progress, sheet_dir)
        )
        if held_out:
            history = 1 + TEMPORAL_FACTOR * (history_latents - 1)
            future = engine.config.frames_per_chunk * max(SHORT_HORIZONS)
            real = read_clips(video_dir, held_out, size, history + future)
            metrics.update(
                real_clip_scores(
                    engine, real, history_latents, anchor, progress=progress, sheet_dir=sheet_dir
                )
            )
    if moving_clips:
        metrics.update(motion_scores(engine, moving_clips, sheet_dir))
    return metrics


class _Report:
    """Markdown tables of metrics; remembers which metrics it showed, so that a final table
    can list every other one."""

    def __init__(self, metrics: Mapping[str, float]):
        self.metrics = metrics
        self.shown: set[str] = set()

    def value(self, key: str, unit: str = "") -> str:
        if key not in self.metrics:
            return "-"
        self.shown.add(key)
        return f"{self.metrics[key]:.2f}{unit}"

    def table(self, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
        lines = ["", title, "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return lines

    def has(self, key: str) -> bool:
        return key in self.metrics


def _motion_table(r: _Report, predictor: str) -> list[str]:
    return r.table(
        "Motion on held-out real clips (33 frames given, 32 predicted; means over clips):",
        ["frames ahead", predictor, "repeat last frame", "worst clip vs repeat"]
        + ["flow error", "repeat's (true flow)", "flow ratio", "motion ratio"],
        [
            [f"{band[0]}-{band[1]}"]
            + [
                r.value(f"motion_{n}_{band_name(band)}", " dB")
                for n in ("psnr", "repeat_psnr", "worst_margin")
            ]
            + [
                r.value(f"motion_{n}_{band_name(band)}", " px")
                for n in ("flow_epe", "repeat_flow_epe")
            ]
            + [r.value(f"motion_{n}_{band_name(band)}") for n in ("flow_ratio", "motion")]
            for band in BANDS
        ]
        + [["jump ratio", r.value("motion_jump")] + [""] * 6]
        + [
            ["10 s: sharpness, colour shift"]
            + [r.value("motion_long_sharpness"), r.value("motion_long_colour_shift")]
            + [""] * 5
        ],
    )


def format_motion_report(predictor: str, metrics: dict[str, float]) -> str:
    """The motion table of a predictor judged alone (metrics keyed as motion_scores'), then every
    per-clip margin."""
    r = _Report(metrics)
    lines = _motion_table(r, predictor)
    rest = [k for k in metrics if k not in r.shown]
    lines += r.table("Per clip:", ["metric", "value"], [[k, f"{metrics[k]:.4g}"] for k in rest])
    return "\n".join(lines)


def format_report(engine: Engine, metrics: dict[str, float]) -> str:
    sampler = engine.config.sampler
    scale = f"change scale {sampler.change_scale}"
    if sampler.fit_change_scale:
        scale = f"change scale fitted per session ({sampler.change_scale} until the first test)"
    lines = [
        f"model: {engine.name}",
        f"sampler: {sampler.steps} Euler steps, shift {sampler.shift}, "
        f"context noise {sampler.context_noise}, detail carry-over width {sampler.detail_width} "
        f"snap {sampler.detail_snap}, {scale}; flow space: {engine.config.dit.flow_space}",
    ]
    r = _Report(metrics)
    baselines = ("dit", "repeat", "latent_repeat", "shift")
    header = ["chunks ahead", "model", "repeat last frame", "latent repeat", "shift by last motion"]
    lines += r.table(
        "World videos, whole-frame prediction PSNR:",
        header,
        [[str(h)] + [r.value(f"{n}_psnr_h{h}", " dB") for n in baselines] for h in HORIZONS],
    )
    lines += r.table(
        "World videos, foreground PSNR (inside the true sprite masks; erased: the true "
        "background without the sprites, what erasing them scores at best):",
        [*header, "erased"],
        [
            [str(h)] + [r.value(f"worlds_fg_{n}_psnr_c{h}", " dB") for n in (*baselines, "erased")]
            for h in WORLD_FG_HORIZONS
        ],
    )
    real = [k.removeprefix("real_jump_ratio_") for k in metrics if k.startswith("real_jump_ratio_")]
    if real:
        rows = []
        for clip in [*real, ""]:
            suffix = f"_{clip}" if clip else ""
            for h in SHORT_HORIZONS:
                rows.append(
                    [clip or "mean", str(h)]
                    + [
                        r.value(f"real_{n}_psnr_c{h}{suffix}", " dB")
                        for n in ("dit", "repeat", "latent_repeat", "vae")
                    ]
                    + [r.value(f"real_{n}_c{h}{suffix}") for n in ("sharpness", "motion")]
                )
        lines += r.table(
            "Held-out real clips, prediction PSNR, sharpness and motion ratios:",
            ["clip", "chunks ahead", "model", "repeat last frame", "latent repeat"]
            + ["VAE recon. (ceiling)", "sharpness", "motion"],
            rows,
        )
        lines += r.table(
            "Jump into the first predicted frame, over a real frame step:",
            ["clip", "jump ratio"],
            [
                [clip or "mean", r.value("real_jump_ratio" + (f"_{clip}" if clip else ""))]
                for clip in [*real, ""]
            ],
        )
    lines += r.table(
        "World videos, sharpness and motion ratios:",
        ["chunks ahead", "sharpness", "motion"],
        [
            [str(h), r.value(f"worlds_sharpness_c{h}"), r.value(f"worlds_motion_c{h}")]
            for h in SHORT_HORIZONS
        ]
        + [["jump ratio", r.value("worlds_jump_ratio"), ""]],
    )
    if r.has("context_ratio_c1"):
        lines += r.table(
            "Context dependence on held-out clips, mean absolute difference (0-255):",
            ["chunks ahead", "two inputs, one seed", "two seeds, one input", "ratio"]
            + ["two inputs, the truth"],
            [
                [str(h)]
                + [r.value(f"context_{n}_c{h}") for n in ("inputs_mad", "seeds_mad", "ratio")]
                + [r.value(f"context_truth_mad_c{h}")]
                for h in SHORT_HORIZONS
            ],
        )
    if r.has("motion_jump"):
        lines += _motion_table(r, "model")
    rest = [k for k in metrics if k not in r.shown]
    lines += r.table(
        "Other metrics:", ["metric", "value"], [[k, f"{metrics[k]:.4g}"] for k in rest]
    )
    return "\n".join(lines)
