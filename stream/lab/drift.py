"""The drift lab: how rollout error grows over minutes, per anchor mode, against exact truth.

For each anchor mode and world seed: push the first frames of a closed-form world, extend
autoregressively for minutes, and record for every latent frame t the error eps_t = z_hat_t - z_t
against the encoding of the true frames (norm and per-element RMS), pixel PSNR against the true
frames, the anchor penalty C(z_hat_t, z_0), and a position-free identity measure (colour-histogram
distance to the first frame) that stays meaningful after generated motion falls out of phase.
Along the way: the spectral radius of the one-chunk map's Jacobian by power iteration, and twin
rollouts (same noise, context perturbed by delta) whose divergence measures J's action directly.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from stream.lab.jacobian import chunk_map_jvp, power_iteration
from stream.lab.saturation import DEFAULT_FRACTION, saturation_ceiling
from stream.media.pixels import to_unit
from stream.media.video_io import read_video
from stream.media.worlds import make_world
from stream.metrics import frame_psnr
from stream.model.vae import TEMPORAL_FACTOR
from stream.runtime.anchor import (
    ANCHOR_MODES,
    check_anchor_mode,
    uses_attention,
    uses_guidance,
)
from stream.runtime.chunk import SessionSettings, session_settings
from stream.runtime.engine import Engine
from stream.runtime.sampler import chunk_noise
from stream.runtime.timeline import Timeline


@dataclasses.dataclass(frozen=True)
class DriftSettings:
    minutes: float = 5.0  # length of each rollout, at the model's frame rate
    seeds: tuple[int, ...] = (0, 1, 2)  # world seeds (the sampler's seed follows the world's)
    modes: tuple[str, ...] = ANCHOR_MODES
    family: str = "sprites"
    jacobian_every: int = 100  # chunks between spectral-radius estimates
    power_iterations: int = 12
    twin_chunks: int = 60  # length of the twin rollouts, in chunks
    twin_delta: float = 1e-3  # size of the context perturbation, relative to the context norm
    window: int | None = None  # latent frames of rolling context (default: the model's)
    steps: int | None = None
    # Growth laws are fitted below this fraction of the saturation ceiling (saturation.py).
    saturation_fraction: float = DEFAULT_FRACTION

    def __post_init__(self) -> None:
        for mode in self.modes:
            check_anchor_mode(mode)
        if self.minutes <= 0:
            raise ValueError(f"minutes={self.minutes} must be > 0")
        if not 0 < self.saturation_fraction <= 1:
            raise ValueError(f"saturation_fraction={self.saturation_fraction} must be in (0, 1]")
        if not self.seeds:
            raise ValueError("seeds must name at least one world seed")


@dataclasses.dataclass
class Truth:
    """A true video as the model sees it: frames and their latent encoding, frame 0 first, and
    the ceiling of rollout error against it (saturation.saturation_ceiling)."""

    name: str
    frames: Callable[[int, int], np.ndarray]  # (start, count) -> uint8 (count, S, S, 3)
    latents: np.ndarray  # (T, h, w, C)
    ceiling: float


def encode_video(engine: Engine, frames: np.ndarray) -> np.ndarray:
    """Streaming-encode 1 + 4k uint8 frames -> latents (1 + k, h, w, C)."""
    state = engine.new_encoder_state()
    latents = []
    start = 0
    while start < len(frames):
        group = 1 if start == 0 else TEMPORAL_FACTOR
        pixels = to_unit(frames[None, start : start + group])
        latent, state = engine.encode(jnp.asarray(pixels), state)  # (1, 1, h, w, C)
        latents.append(np.asarray(latent[0, 0]))
        start += group
    return np.stack(latents)


def colour_identity(frames: np.ndarray, reference: np.ndarray, bins: int = 8) -> np.ndarray:
    """1 - histogram intersection of joint RGB histograms: 0 when a frame has the reference's
    colours wherever they are, 1 when it shares none. frames (N, S, S, 3) -> (N,)."""

    def histogram(image: np.ndarray) -> np.ndarray:
        q = (image.astype(np.int32) * bins) // 256  # (..., 3) bin per channel
        index = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
        counts = np.bincount(index.ravel(), minlength=bins**3)
        return counts / counts.sum()

    ref = histogram(reference)
    return np.array([1.0 - np.minimum(histogram(f), ref).sum() for f in frames])


@dataclasses.dataclass
class Rollout:
    mode: str
    seed: int
    rows: list[dict]
    rho: list[dict]
    twin: list[dict]
    ceiling: float  # of ||eps_t||: the distance between unrelated frames of the truth


class DriftLab:
    def __init__(self, engine: Engine, settings: DriftSettings):
        self.engine = engine
        self.settings = settings
        config = engine.config
        self.window = settings.window or config.dit.window_frames
        if not 1 <= self.window <= config.dit.window_frames:
            raise ValueError(f"window={self.window} out of range 1..{config.dit.window_frames}")
        self.steps = settings.steps or config.sampler.steps
        self.chunk = config.dit.chunk_frames
        # Push a full window plus the anchor, so the first chunk already conditions on a rolled
        # window and every mode starts from the same context.
        self.context_latents = self.window + 1
        self.jacobian = chunk_map_jvp(engine, self.window)

    def rollout_chunks(self, total_latents: int) -> int:
        return max(1, (total_latents - self.context_latents) // self.chunk)

    def rollout(
        self,
        truth: Truth,
        mode: str,
        seed: int,
        chunks: int,
        progress: Callable[[], None] = lambda: None,
    ) -> Rollout:
        engine, config = self.engine, self.engine.config
        anchor_on = uses_attention(mode)
        guidance = config.sampler.guidance_strength if uses_guidance(mode) else 0.0
        context = jnp.asarray(truth.latents[: self.context_latents])  # (K, h, w, C)
        z0 = context[0]
        first_frame = truth.frames(0, 1)[0]

        settings = session_settings(
            self.window, anchor_on, guidance, seed, self.steps, config.sampler.shift
        )
        # The lab measures the model: its timelines start from latents, so no real frame's
        # detail is carried into the rollouts.
        timeline = self._start(context, settings)
        twin_timeline = self._start(self._perturbed(context, seed), settings)
        history = list(np.asarray(context))
        shape = (1, self.chunk, *context.shape[1:])
        rows, rho, twin = [], [], []
        for index in range(chunks):
            next_latent = len(history)
            if index % self.settings.jacobian_every == 0:
                state = jnp.asarray(np.stack(history[-self.window :]))  # (W, h, w, C)
                noise = chunk_noise(seed, next_latent, shape)  # what generate draws

                def jvp(v, state=state, noise=noise, at=next_latent):
                    return self.jacobian(state, v, z0, noise, settings, at)

                estimate = power_iteration(jvp, state.shape, self.settings.power_iterations)
                rho.append({"chunk": index, "latent_frame": next_latent, "rho": estimate})
            chunk, timeline = engine.generate(timeline, settings)
            x, pixels = chunk.latents, np.asarray(chunk.pixels)  # (1, F, h, w, C), (4F, S, S, 3)
            if index < self.settings.twin_chunks:
                twin_chunk, twin_timeline = engine.generate(twin_timeline, settings)
                distance = float(jnp.linalg.norm(x - twin_chunk.latents))
                twin.append({"chunk": index, "distance": distance})
            latents = np.asarray(x[0])  # (F, h, w, C)
            history.extend(latents)
            penalties = np.asarray(chunk.anchor_penalty)  # (F,)
            for f, latent in enumerate(latents):
                t = next_latent + f
                true_pixels = truth.frames(TEMPORAL_FACTOR * t - 3, TEMPORAL_FACTOR)
                predicted = pixels[TEMPORAL_FACTOR * f : TEMPORAL_FACTOR * (f + 1)]
                error = latent.astype(np.float64) - truth.latents[t]
                rows.append(
                    {
                        "latent_frame": t,
                        "seconds": TEMPORAL_FACTOR * t / config.fps,
                        "eps_norm": float(np.sqrt((error**2).sum())),
                        "eps_rms": float(np.sqrt((error**2).mean())),
                        "eps_over_ceiling": float(np.sqrt((error**2).sum())) / truth.ceiling,
                        "psnr_db": frame_psnr(predicted, true_pixels),
                        "anchor_penalty": float(penalties[f]),
                        "identity_pred": float(colour_identity(predicted, first_frame).mean()),
                        "identity_true": float(colour_identity(true_pixels, first_frame).mean()),
                    }
                )
            progress()
        return Rollout(mode, seed, rows, rho, twin, truth.ceiling)

    def _start(self, context: jax.Array, settings: SessionSettings) -> Timeline:
        """The timeline after the context latents (K, h, w, C), the first of them z_0."""
        timeline = self.engine.new_timeline()
        for latent in context:
            timeline = self.engine.commit_latent(timeline, latent[None, None], settings)
        return timeline

    def _perturbed(self, context: jax.Array, seed: int) -> jax.Array:
        """The context with its last frame moved by twin_delta of its norm: the anchor z_0 stays,
        so the twins differ only in the history the window conditions on."""
        direction = jax.random.normal(jax.random.key(seed + 7919), context.shape[1:])
        scale = self.settings.twin_delta * jnp.linalg.norm(context[-1]) / jnp.linalg.norm(direction)
        return context.at[-1].add(scale * direction)


def world_truth(engine: Engine, family: str, seed: int, latents: int) -> Truth:
    world = make_world(family, seed=seed, size=engine.config.image_size)
    frames = world.frames(0, 1 + TEMPORAL_FACTOR * (latents - 1))
    encoded = encode_video(engine, frames)  # (latents, h, w, C)
    return Truth(f"{family}:{seed}", world.frames, encoded, saturation_ceiling(encoded, seed=seed))


def clip_truth(engine: Engine, path: str) -> Truth:
    """A real clip as truth: known only while the clip lasts."""
    frames, _ = read_video(path, size=engine.config.image_size)
    usable = 1 + TEMPORAL_FACTOR * ((len(frames) - 1) // TEMPORAL_FACTOR)
    frames = frames[:usable]  # (1 + 4k, S, S, 3)

    def window(start: int, count: int) -> np.ndarray:
        return frames[start : start + count]

    encoded = encode_video(engine, frames)  # (1 + k, h, w, C)
    return Truth(f"clip:{pathlib.Path(path).name}", window, encoded, saturation_ceiling(encoded))


def total_latents(engine: Engine, minutes: float) -> int:
    return 1 + int(minutes * 60.0 * engine.config.fps) // TEMPORAL_FACTOR
