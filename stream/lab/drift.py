"""The drift lab: how rollout error grows over minutes, per anchor mode, against exact truth.

For each anchor mode and world seed: push the first frames of a closed-form world, extend
autoregressively for minutes, and record for every latent frame t the error eps_t = z_hat_t - z_t
against the encoding of the true frames (norm, per-element RMS, and its fraction of the
saturation ceiling), pixel PSNR against the true frames, both anchor penalties, a position-free
identity measure (colour-histogram distance to the first frame) that stays meaningful after
generated motion falls out of phase, motion, sharpness and mean colour of prediction and truth,
and features for long-horizon coherence. Along the way: rho of the one-chunk map's Jacobian by
power iteration until it settles, twin rollouts (same noise, context perturbed by delta) whose
divergence measures J's action directly, and the size of the guidance forces against the
velocity. After it: the top Lyapunov exponents along the rollout (lyapunov.py); and, on the true
trajectory, the linear theory's prediction of ||eps_t|| from the measured J and one-chunk errors
xi (theory.py).
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.lab.chunk_map import ChunkMap
from stream.lab.coherence import DEFAULT_LAGS
from stream.lab.guidance_sweep import (
    PENALTIES,
    PENALTY_FUNCTIONS,
    GuidanceForce,
    check_penalty,
    lowfreq_penalty,
)
from stream.lab.jacobian import power_iteration
from stream.lab.lyapunov import Lyapunov, lyapunov_spectrum
from stream.lab.saturation import DEFAULT_FRACTION, saturation_ceiling
from stream.lab.stages import Stages
from stream.lab.theory import Prediction, linear_theory
from stream.media.pixels import to_unit
from stream.media.video_io import read_video
from stream.media.worlds import make_world
from stream.metrics import frame_psnr, laplacian_variance, mean_abs_difference, tcs_features
from stream.model.vae import TEMPORAL_FACTOR
from stream.runtime.anchor import ANCHOR_MODES, check_anchor_mode, uses_attention, uses_guidance
from stream.runtime.chunk import SessionSettings, session_settings
from stream.runtime.engine import Engine
from stream.runtime.sampler import chunk_noise
from stream.runtime.timeline import Chunk, Timeline, generate

FEATURE_SIDE = 8  # TCS features of 8 x 8 x 3: enough for coherence, small for an hour's frames


@dataclasses.dataclass(frozen=True)
class DriftSettings:
    minutes: float = 5.0  # length of each rollout, at the model's frame rate
    seeds: tuple[int, ...] = (0, 1, 2)  # world seeds (the sampler's seed follows the world's)
    modes: tuple[str, ...] = ANCHOR_MODES
    family: str = "sprites"
    jacobian_every: int = 100  # chunks between rho(J) (and guidance force) readings
    power_iterations: int = 50  # at most, per rho(J) estimate; it stops once rho settles
    power_tolerance: float = 0.01  # settled: the last iteration changed rho by less than this
    twin_chunks: int = 60  # length of the twin rollouts, in chunks
    twin_delta: float = 1e-3  # size of the context perturbation, relative to the context norm
    window: int | None = None  # latent frames of rolling context (default: the model's)
    steps: int | None = None
    # Growth laws are fitted below this fraction of the saturation ceiling (saturation.py).
    saturation_fraction: float = DEFAULT_FRACTION
    lyapunov_k: int = 8  # Lyapunov exponents per rollout (0: none)
    lyapunov_chunks: int = 40  # consecutive chunks from the rollout's start they average over
    theory_chunks: int = 60  # chunks of the linear theory on the true trajectory (0: none)
    theory_samples: int = 8  # noise draws of the theory's recursion
    coherence_lags: tuple[int, ...] = DEFAULT_LAGS  # latent frames apart
    quality_window_s: float = 10.0  # seconds compared at the start and the end
    sweep_lambdas: tuple[float, ...] = ()  # guidance strengths swept (empty: no sweep)
    sweep_penalties: tuple[str, ...] = PENALTIES
    sweep_minutes: float = 1.0  # length of each sweep rollout
    # World of the sweep's rollouts; None: the first of `seeds`. A seed the report does not use
    # keeps the choice of a default strength off the worlds it is then measured on.
    sweep_seed: int | None = None
    sweep_attention: bool = True  # the sweep's rollouts keep the attention anchor too

    def __post_init__(self) -> None:
        for mode in self.modes:
            check_anchor_mode(mode)
        for penalty in self.sweep_penalties:
            check_penalty(penalty)
        if self.minutes <= 0 or self.sweep_minutes <= 0:
            raise ValueError(
                f"minutes={self.minutes} and sweep_minutes={self.sweep_minutes} must be > 0"
            )
        if not self.seeds:
            raise ValueError("seeds must name at least one world seed")
        if not 0 < self.saturation_fraction <= 1:
            raise ValueError(f"saturation_fraction={self.saturation_fraction} must be in (0, 1]")
        if any(not strength >= 0 for strength in self.sweep_lambdas):
            raise ValueError(f"sweep_lambdas={self.sweep_lambdas} must all be >= 0")
        if self.jacobian_every < 1:
            raise ValueError(f"jacobian_every={self.jacobian_every} must be >= 1")
        if self.theory_chunks and self.theory_samples < 2:
            raise ValueError(f"theory_samples={self.theory_samples} must be >= 2")

    @classmethod
    def quick(cls) -> DriftSettings:
        """A smoke run of a couple of minutes on the shipped model: every measurement, small."""
        return cls(
            minutes=0.5,
            seeds=(0,),
            jacobian_every=20,
            power_iterations=12,
            twin_chunks=10,
            lyapunov_k=4,
            lyapunov_chunks=8,
            theory_chunks=16,
            theory_samples=4,
            quality_window_s=5.0,
            sweep_lambdas=(0.0, 30.0, 300.0),
            sweep_minutes=0.25,
        )


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
    stages = Stages(engine)
    state = stages.new_encoder_state()
    latents = []
    start = 0
    while start < len(frames):
        group = 1 if start == 0 else TEMPORAL_FACTOR
        pixels = to_unit(frames[None, start : start + group])
        latent, state = stages.encode(jnp.asarray(pixels), state)  # (1, 1, h, w, C)
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


def _frame_measures(frames: np.ndarray, before: np.ndarray, suffix: str) -> dict[str, float]:
    """Motion, sharpness and mean colour of one latent frame's 4 frames (4, S, S, 3), the frame
    before them (S, S, 3) giving the first step of motion."""
    steps = np.concatenate([before[None], frames])  # (5, S, S, 3)
    red, green, blue = frames.reshape(-1, 3).astype(np.float64).mean(axis=0)
    return {
        f"motion_{suffix}": mean_abs_difference(steps[1:], steps[:-1]),
        f"sharpness_{suffix}": float(laplacian_variance(frames).mean()),
        f"red_{suffix}": float(red),
        f"green_{suffix}": float(green),
        f"blue_{suffix}": float(blue),
    }


@dataclasses.dataclass
class Rollout:
    mode: str
    seed: int
    rows: list[dict]
    rho: list[dict]
    twin: list[dict]
    ceiling: float  # of ||eps_t||: the distance between unrelated frames of the truth
    force: list[dict] = dataclasses.field(default_factory=list)  # guidance_sweep.GuidanceForce
    lyapunov: Lyapunov | None = None  # exponents per chunk along the rollout
    theory: list[dict] = dataclasses.field(default_factory=list)  # predicted and measured eps
    features_pred: np.ndarray | None = None  # (T, D) TCS features, one frame per latent frame
    features_true: np.ndarray | None = None  # (T, D)
    guidance: float = 0.0  # lambda of the guidance penalty the rollout ran with
    chunk_s: float = float("nan")  # seconds of video per chunk (Lyapunov exponents per second)


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
        self.chunk_map = ChunkMap(engine, self.window)
        self.force = GuidanceForce(engine)
        self._generators: dict[str, Callable] = {}  # penalty -> generate compiled with it
        size = config.dit.latent_size
        self.noise_shape = (1, self.chunk, size, size, config.dit.latent_channels)

    def rollout_chunks(self, total_latents: int) -> int:
        return max(1, (total_latents - self.context_latents) // self.chunk)

    def settings_for(
        self,
        mode: str,
        seed: int,
        guidance: float | None = None,
    ) -> SessionSettings:
        """A session's settings in this lab; guidance None is the model's strength in the modes
        that use it."""
        config = self.engine.config
        if guidance is None:
            guidance = config.sampler.guidance_strength if uses_guidance(mode) else 0.0
        return session_settings(
            self.window,
            uses_attention(mode),
            guidance,
            seed,
            self.steps,
            config.sampler,
        )

    def rollout(
        self,
        truth: Truth,
        mode: str,
        seed: int,
        chunks: int,
        progress: Callable[[], None] = lambda: None,
        guidance: float | None = None,
        penalty: str = "stats",
        probes: bool = True,
    ) -> Rollout:
        """One rollout; probes=False leaves out rho(J), twins and the Lyapunov exponents (the
        guidance sweep's rollouts); penalty: the guidance anchor's C, at strength `guidance`."""
        engine, config = self.engine, self.engine.config
        settings = self.settings_for(mode, seed, guidance)
        check_penalty(penalty)
        context = jnp.asarray(truth.latents[: self.context_latents])  # (K, h, w, C)
        z0 = context[0]
        first_frame = truth.frames(0, 1)[0]
        twin_chunks = self.settings.twin_chunks if probes else 0

        # The lab measures the model: its timelines start from latents, so no real frame's
        # detail is carried into the rollouts.
        timeline = self._start(context, settings)
        twin_timeline = (
            self._start(self._perturbed(context, seed), settings) if twin_chunks else None
        )
        history = list(np.asarray(context))
        rows, rho, twin, force, features_pred, features_true = [], [], [], [], [], []
        previous_pred = previous_true = truth.frames(TEMPORAL_FACTOR * (len(history) - 1), 1)[0]
        for index in range(chunks):
            next_latent = len(history)
            if index % self.settings.jacobian_every == 0:
                state = jnp.asarray(np.stack(history[-self.window :]))  # (W, h, w, C)
                noise = chunk_noise(seed, next_latent, self.noise_shape)  # what generate draws
                force.append(
                    {"chunk": index, **self.force(state, z0, noise, settings, next_latent)}
                )
                if probes:
                    rho.append({"chunk": index, "latent_frame": next_latent})
                    rho[-1].update(self._rho(state, z0, noise, settings, next_latent))
            chunk, timeline = self._generate(timeline, settings, penalty)
            x, pixels = chunk.latents, np.asarray(chunk.pixels)  # (1, F, h, w, C), (4F, S, S, 3)
            if index < twin_chunks:
                twin_chunk, twin_timeline = engine.generate(twin_timeline, settings)
                distance = float(jnp.linalg.norm(x - twin_chunk.latents))
                twin.append({"chunk": index, "distance": distance})
            latents = np.asarray(x[0])  # (F, h, w, C)
            history.extend(latents)
            penalties = np.asarray(chunk.anchor_penalty)  # (F,)
            lowfreq = np.asarray(lowfreq_penalty(x[0], z0))  # (F,)
            for f, latent in enumerate(latents):
                t = next_latent + f
                true_pixels = truth.frames(TEMPORAL_FACTOR * t - 3, TEMPORAL_FACTOR)
                predicted = pixels[TEMPORAL_FACTOR * f : TEMPORAL_FACTOR * (f + 1)]
                error = latent.astype(np.float64) - truth.latents[t]
                norm = float(np.sqrt((error**2).sum()))
                rows.append(
                    {
                        "latent_frame": t,
                        "seconds": TEMPORAL_FACTOR * t / config.fps,
                        "eps_norm": norm,
                        "eps_rms": float(np.sqrt((error**2).mean())),
                        "eps_over_ceiling": norm / truth.ceiling,
                        "psnr_db": frame_psnr(predicted, true_pixels),
                        "anchor_penalty": float(penalties[f]),
                        "lowfreq_penalty": float(lowfreq[f]),
                        "identity_pred": float(colour_identity(predicted, first_frame).mean()),
                        "identity_true": float(colour_identity(true_pixels, first_frame).mean()),
                        **_frame_measures(predicted, previous_pred, "pred"),
                        **_frame_measures(true_pixels, previous_true, "true"),
                    }
                )
                previous_pred, previous_true = predicted[-1], true_pixels[-1]
                features_pred.append(tcs_features(predicted[-1:], FEATURE_SIDE)[0])
                features_true.append(tcs_features(true_pixels[-1:], FEATURE_SIDE)[0])
            progress()
        result = Rollout(
            mode,
            seed,
            rows,
            rho,
            twin,
            truth.ceiling,
            force,
            features_pred=np.stack(features_pred),
            features_true=np.stack(features_true),
            guidance=float(settings.guidance),
            chunk_s=TEMPORAL_FACTOR * self.chunk / config.fps,
        )
        if probes and self.settings.lyapunov_k:
            result.lyapunov = self.lyapunov(np.stack(history), settings, seed, chunks)
        return result

    def _rho(
        self, state: jax.Array, z0: jax.Array, noise: jax.Array, settings: SessionSettings, at: int
    ) -> dict[str, float]:
        def jvp(v: jax.Array) -> jax.Array:
            return self.chunk_map.jvp(state, v, z0, noise, settings, at)

        estimate = power_iteration(
            jvp, state.shape, self.settings.power_iterations, self.settings.power_tolerance
        )
        return dataclasses.asdict(estimate)

    def lyapunov(
        self, history: np.ndarray, settings: SessionSettings, seed: int, chunks: int
    ) -> Lyapunov:
        """Top exponents per chunk along a rollout's latents history (T, h, w, C), over its first
        lyapunov_chunks chunks."""
        z0 = jnp.asarray(history[0])
        steps = min(self.settings.lyapunov_chunks, chunks)
        k = self.settings.lyapunov_k

        def apply(t: int, vectors: np.ndarray) -> np.ndarray:
            at = self.context_latents + t * self.chunk
            state = jnp.asarray(history[at - self.window : at])  # (W, h, w, C)
            noise = chunk_noise(seed, at, self.noise_shape)
            _, moved = self.chunk_map.linearized(
                state, jnp.asarray(vectors, jnp.float32), z0, noise, settings, at
            )
            return np.asarray(moved)  # (k, W, h, w, C)

        shape = (self.window, *history.shape[1:])
        return lyapunov_spectrum(apply, shape, k, steps, seed)

    def theory(self, truth: Truth, mode: str, seed: int, chunks: int) -> list[dict]:
        """The linear theory on the true trajectory: xi_t (one chunk from the true window,
        against the truth) and J_t there; rows of predicted ||eps|| per latent frame."""
        settings = self.settings_for(mode, seed)
        z0 = jnp.asarray(truth.latents[0])
        steps = min(self.settings.theory_chunks, chunks)
        samples = self.settings.theory_samples
        states, noises, xi = [], [], []
        for t in range(steps):
            at = self.context_latents + t * self.chunk
            state = jnp.asarray(truth.latents[at - self.window : at])  # (W, h, w, C)
            noise = chunk_noise(seed, at, self.noise_shape)
            value = self.chunk_map.apply(state, z0, noise, settings, at)  # (W, h, w, C)
            error = np.zeros(state.shape)  # (W, h, w, C): xi lives in the chunk's new frames
            new = slice(self.window - self.chunk, self.window)
            error[new] = np.asarray(value)[new] - truth.latents[at : at + self.chunk]
            states.append(state)
            noises.append(noise)
            xi.append(error)

        def apply(t: int, errors: np.ndarray) -> np.ndarray:
            at = self.context_latents + t * self.chunk
            tangents = jnp.asarray(errors, jnp.float32)
            _, moved = self.chunk_map.linearized(states[t], tangents, z0, noises[t], settings, at)
            return np.asarray(moved)  # (M, W, h, w, C)

        def per_frame(errors: np.ndarray) -> np.ndarray:
            new = errors[:, self.window - self.chunk :]  # (M, F, h, w, C)
            return np.linalg.norm(new.reshape(*new.shape[:2], -1), axis=2)  # (M, F)

        xi = np.stack(xi)  # (steps, W, h, w, C)
        prediction: Prediction = linear_theory(apply, xi, steps, samples, seed, per_frame)
        xi_norms = per_frame(xi)  # (steps, F)
        fps = self.engine.config.fps
        return [
            {
                "latent_frame": self.context_latents + t * self.chunk + f,
                "seconds": TEMPORAL_FACTOR * (self.context_latents + t * self.chunk + f) / fps,
                "eps_theory": float(prediction.mean[t, f]),
                "eps_theory_stderr": float(prediction.stderr[t, f]),
                "xi_norm": float(xi_norms[t, f]),
            }
            for t in range(steps)
            for f in range(self.chunk)
        ]

    def _generate(
        self, timeline: Timeline, settings: SessionSettings, penalty: str
    ) -> tuple[Chunk, Timeline]:
        """The engine's next chunk, or, under another guidance penalty than the engine's, the
        same program compiled here with that penalty (the sweep's alone: production samples
        with the anchor's own)."""
        if penalty == "stats":
            return self.engine.generate(timeline, settings)
        if penalty not in self._generators:
            engine = self.engine
            graphdefs, config = (engine.dit_def, engine.vae_def), engine.config

            def program(dit_params, vae_params, timeline, settings):
                dit, vae = nnx.merge(graphdefs[0], dit_params), nnx.merge(graphdefs[1], vae_params)
                return generate(dit, vae, config, timeline, settings, PENALTY_FUNCTIONS[penalty])

            self._generators[penalty] = jax.jit(program)
        program = self._generators[penalty]
        return program(self.engine.dit_params, self.engine.vae_params, timeline, settings)

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
