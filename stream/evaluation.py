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
Generation goes through the public Engine/Session API. Fixed seeds: the same model and machine
give the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from stream.anchor import ANCHOR_MODES
from stream.vae import TEMPORAL_FACTOR
from stream.video_io import read_video
from stream.worlds import WORLD_FAMILIES, make_world

if TYPE_CHECKING:
    from stream.engine import Engine


def psnr(a: jax.Array, b: jax.Array, peak: float = 2.0) -> jax.Array:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2), over all elements."""
    mse = jnp.mean(jnp.square(a - b))
    return 10.0 * jnp.log10(peak**2 / jnp.maximum(mse, 1e-12))


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> jax.Array:
    x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
    g = jnp.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()  # (size,)


def ssim(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean SSIM of images (..., H, W, C) in [-1, 1]: Gaussian window 7x7, sigma 1.5, per channel
    (a 7-wide window rather than the usual 11 suits 64x64 frames)."""
    a = (a.reshape(-1, *a.shape[-3:]) + 1.0) / 2.0  # (N, H, W, C) in [0, 1]
    b = (b.reshape(-1, *b.shape[-3:]) + 1.0) / 2.0
    g = _gaussian_window()

    def blur(x: jax.Array) -> jax.Array:
        # Separable valid convolution along H then W.
        x = jnp.moveaxis(x, -1, 1)  # (N, C, H, W)
        x = jax.vmap(jax.vmap(jax.vmap(lambda r: jnp.convolve(r, g, "valid"), 1, 1)))(x)
        x = jax.vmap(jax.vmap(jax.vmap(lambda r: jnp.convolve(r, g, "valid"))))(x)
        return x  # (N, C, H', W')

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return jnp.mean(num / den)


# World seeds at or above this are never trained on; evaluation draws from them.
EVAL_WORLD_SEED = 1 << 30


def default_video_dir() -> Path:
    """../shared/data/video beside the repository, or $STREAM_VIDEO_DIR."""
    env = os.environ.get("STREAM_VIDEO_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def to_unit(frames: np.ndarray) -> np.ndarray:
    """uint8 frames -> float32 in [-1, 1]."""
    return frames.astype(np.float32) / 127.5 - 1.0


def world_clips(size: int, frames: int, count: int, start: int = 0) -> np.ndarray:
    """World videos of unseen seeds, cycling through the families: uint8 (count, T, S, S, 3)."""
    return np.stack(
        [
            make_world(WORLD_FAMILIES[i % len(WORLD_FAMILIES)], EVAL_WORLD_SEED + i, size).frames(
                start, frames
            )
            for i in range(count)
        ]
    )


def video_clips(folder: Path, names: Sequence[str], size: int, frames: int) -> np.ndarray:
    """The first `frames` frames of each named clip (looped if shorter): uint8 (N, T, S, S, 3)."""
    clips = []
    for name in names:
        clip, _ = read_video(folder / name, size=size, max_frames=frames)  # (t, S, S, 3)
        clips.append(np.resize(clip, (frames, *clip.shape[1:])))
    return np.stack(clips)


HORIZONS: tuple[int, ...] = (1, 4, 16, 64)  # chunks ahead


def _psnr_np(mse: float) -> float:
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


def _stream_reconstruct(engine: Engine, clip: np.ndarray) -> np.ndarray:
    """Encode and decode a uint8 (1+4k, S, S, 3) clip through the live loop's streaming stages."""
    encoder, decoder = engine.new_encoder_state(), engine.new_decoder_state()
    frames = jnp.asarray(to_unit(clip))[None]  # (1, T, S, S, 3)
    out = []
    for start, stop in [(0, 1)] + [(i, i + TEMPORAL_FACTOR) for i in range(1, len(clip), 4)]:
        latent, encoder = engine.encode(frames[:, start:stop], encoder)
        decoded, decoder = engine.decode(latent, decoder)  # (1, 4, S, S, 3)
        out.append(np.asarray(decoded[0, -(stop - start) :]))
    return np.clip(np.concatenate(out), -1.0, 1.0)  # (T, S, S, 3)


def vae_scores(engine: Engine, clips: np.ndarray, names: Sequence[str] = ()) -> dict[str, float]:
    """PSNR (pooled MSE) and mean SSIM of reconstructing uint8 clips (N, T, S, S, 3), and the
    PSNR of each clip given a name, as "psnr_<name>"."""
    recon = np.stack([_stream_reconstruct(engine, clip) for clip in clips])
    target = to_unit(clips)
    mse = np.mean(np.square((recon - target) * 127.5), axis=(1, 2, 3, 4))  # (N,)
    scores = {
        "psnr": _psnr_np(float(mse.mean())),
        "ssim": float(ssim(jnp.asarray(recon), jnp.asarray(target))),
    }
    scores.update({f"psnr_{name}": _psnr_np(float(m)) for name, m in zip(names, mse, strict=False)})
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


def tcs_features(frames: np.ndarray, side: int = 16) -> np.ndarray:
    """Frames (T, S, S, 3) -> area-downsampled to side x side, minus each frame's mean colour."""
    t, s = frames.shape[:2]
    x = frames.astype(np.float32).reshape(t, side, s // side, side, s // side, 3).mean((2, 4))
    x = x - x.mean((1, 2), keepdims=True)  # (T, side, side, 3)
    return x.reshape(t, -1)


def temporal_consistency(frames: np.ndarray) -> float:
    """TCS: mean cosine similarity of consecutive frames' features (1 = a frozen video)."""
    f = tcs_features(frames)
    num = (f[1:] * f[:-1]).sum(-1)
    den = np.linalg.norm(f[1:], axis=-1) * np.linalg.norm(f[:-1], axis=-1)
    return float(np.mean(num / np.maximum(den, 1e-9)))


def prediction_scores(
    engine: Engine, worlds: int, history_latents: int, anchor: str, progress: tqdm
) -> dict[str, float]:
    """Prediction PSNR at HORIZONS for the model and the two baselines, and TCS."""
    per_chunk = engine.config.frames_per_chunk
    history = 1 + TEMPORAL_FACTOR * (history_latents - 1)
    future = per_chunk * max(HORIZONS)
    videos = world_clips(engine.config.image_size, history + future, worlds)  # (N, T, S, S, 3)
    sq = {name: np.zeros(len(HORIZONS)) for name in ("dit", "repeat", "shift")}
    tcs_generated, tcs_real = [], []
    for video in videos:
        past, truth = video[:history], video[history:].astype(np.float64)
        session = engine.open(anchor=anchor, seed=0)
        session.push(past)
        generated = session.extend(future)
        predictions = {
            "dit": generated,
            "repeat": np.broadcast_to(past[-1], truth.shape),
            "shift": shift_baseline(past, future),
        }
        for name, predicted in predictions.items():
            for i, h in enumerate(HORIZONS):
                span = slice((h - 1) * per_chunk, h * per_chunk)
                sq[name][i] += np.mean(np.square(predicted[span] - truth[span]))
        tcs_generated.append(temporal_consistency(generated))
        tcs_real.append(temporal_consistency(video[history:]))
        progress.update(1)
    scores = {
        f"{name}_psnr_h{h}": _psnr_np(sq[name][i] / len(videos))
        for name in sq
        for i, h in enumerate(HORIZONS)
    }
    scores["tcs_generated"] = float(np.mean(tcs_generated))
    scores["tcs_real"] = float(np.mean(tcs_real))
    return scores


def run_eval(
    engine: Engine,
    video_dir: Path | None = None,
    worlds: int = 6,
    history_latents: int = 9,
    anchor: str = "attention",
) -> dict[str, float]:
    """Every model-card metric as a flat dict name -> float."""
    video_dir = video_dir or default_video_dir()
    size = engine.config.image_size
    held_out = [n for n in engine.info.get("held_out", []) if (video_dir / n).exists()]
    metrics: dict[str, float] = {}
    with tqdm(total=2 + worlds, desc="eval", unit="part") as progress:
        for name, value in vae_scores(engine, world_clips(size, 33, worlds, start=40)).items():
            metrics[f"vae_worlds_{name}"] = value
        progress.update(1)
        if held_out:
            clips = video_clips(video_dir, held_out, size, 33)
            for name, value in vae_scores(engine, clips, held_out).items():
                metrics[f"vae_held_out_{name}"] = value
        progress.update(1)
        metrics.update(prediction_scores(engine, worlds, history_latents, anchor, progress))
    return metrics


def format_report(engine: Engine, metrics: dict[str, float]) -> str:
    sampler = engine.config.sampler
    lines = [
        f"model: {engine.name}",
        f"sampler: {sampler.steps} Euler steps, shift {sampler.shift}, "
        f"context noise {sampler.context_noise}",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.4g} |" for name, value in metrics.items()]
    table = ["", "| horizon (chunks) | model | repeat last frame | shift by last motion |"]
    table.append("|---|---|---|---|")
    for h in HORIZONS:
        row = [metrics[f"{n}_psnr_h{h}"] for n in ("dit", "repeat", "shift")]
        table.append(f"| {h} | " + " | ".join(f"{v:.2f} dB" for v in row) + " |")
    return "\n".join(lines + table)


def _eval(args: argparse.Namespace) -> int:
    from stream.engine import Engine

    engine = Engine.load(args.checkpoint)
    if args.context_noise is not None:
        engine = engine.with_sampler(context_noise=args.context_noise)
    video_dir = Path(args.video_dir) if args.video_dir else None
    metrics = run_eval(engine, video_dir, worlds=args.worlds, anchor=args.anchor)
    print(json.dumps(metrics, indent=2) if args.json else format_report(engine, metrics))
    return 0


def add_eval_command(commands: argparse._SubParsersAction, add_checkpoint_option) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure the model card's metrics (VAE PSNR/SSIM, prediction PSNR, TCS)",
        description=__doc__.split("\n\n")[1] if "\n\n" in __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_checkpoint_option(parser)
    parser.add_argument("--worlds", type=int, default=6, help="world videos (default 6)")
    parser.add_argument(
        "--anchor",
        choices=ANCHOR_MODES,
        default="attention",
        help="anchor mode of the generating sessions (default attention)",
    )
    parser.add_argument(
        "--video-dir", help="folder with the held-out clips (default ../shared/data/video)"
    )
    parser.add_argument(
        "--context-noise",
        type=float,
        help="diffusion time at which committed context enters the cache (default: the model's; "
        "0 commits it exactly clean, the ablation in the README)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.set_defaults(run=_eval)
