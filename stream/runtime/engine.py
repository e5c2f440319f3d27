"""The engine: one loaded model, its compiled programs, and the batcher every session shares.

A session's state is explicit (timeline.py) and the programs that advance it are written for
one session; the engine compiles each one vmapped over its fixed number of slots, so the
sessions that call at the same moment, with any settings, run as one compiled call per tick
(batcher.py). Shapes are fixed for the whole stream, so each program compiles once and
serves minute 10 as it served second 1.

Slots pay off where one session leaves the device idle (GPU, TPU); on a CPU one session's decoder
already keeps every core busy, so the default is one slot (README, "Batching", has the table).

The stages one by one (encode, decode, commit, one denoising step) are kept for measurement: the
benchmark's per-stage table and the evaluation's streaming encoder.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pathlib
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.config import SMALL, EngineConfig
from stream.media.pixels import to_uint8
from stream.model.dit import DiT
from stream.model.vae import TEMPORAL_FACTOR, CausalVAE
from stream.runtime.anchor import DEFAULT_ANCHOR, check_anchor_mode
from stream.runtime.batcher import Batcher
from stream.runtime.checkpoint import build_models, is_checkpoint, load_model
from stream.runtime.chunk import SessionSettings, session_settings
from stream.runtime.kv_cache import KVCache, cached_segments, commit_context, init_cache
from stream.runtime.sampler import euler_update
from stream.runtime.session import Session
from stream.runtime.timeline import Chunk, Timeline, commit_latent, generate, new_timeline, push

DEFAULT_CHECKPOINT = pathlib.Path(__file__).parents[1] / "assets" / "default_model"
RANDOM_INIT_NAME = "random-init (seed 0, SMALL preset): extends video with noise until trained"
DEFAULT_SLOTS = 1
# A viewer waits on these; the batcher serves them before taking in real frames (batcher.py).
URGENT_PROGRAMS = frozenset({"generate"})


def default_workers() -> int:
    """Ticks in flight at once: one per core on a CPU, where XLA runs a program on about one
    core; two on an accelerator, so one tick's host work overlaps the next one's compute."""
    return max(1, os.cpu_count() or 1) if jax.default_backend() == "cpu" else 2


def _over_slots(program: Callable) -> Callable:
    """program(dit_params, vae_params, *args) for one session -> a compiled call taking a tuple of
    argument tuples (one per slot) and returning a tuple of results: stacking and unstacking the
    slots happen inside the program, so a tick is one call with no host work between slots."""

    def run(dit_params: Any, vae_params: Any, slots: tuple[tuple[Any, ...], ...]) -> tuple:
        stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *slots)  # (slots, ...) leaves
        results = jax.vmap(lambda args: program(dit_params, vae_params, *args))(stacked)
        return tuple(jax.tree.map(lambda leaf, i=i: leaf[i], results) for i in range(len(slots)))

    return jax.jit(run)


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        vae: CausalVAE,
        dit: DiT,
        info: dict[str, Any] | None = None,
        slots: int = DEFAULT_SLOTS,
        workers: int | None = None,
    ):
        self.config = config
        self.info = dict(info or {})
        self.name: str = self.info.get("name", RANDOM_INIT_NAME)
        vae_def, self.vae_params = nnx.split(vae)
        dit_def, self.dit_params = nnx.split(dit)
        self.vae_def, self.dit_def = vae_def, dit_def
        dit_config = config.dit
        context_noise = config.sampler.context_noise

        def models(program: Callable) -> Callable:
            def bound(dit_params: Any, vae_params: Any, *args: Any) -> Any:
                dit, vae = nnx.merge(dit_def, dit_params), nnx.merge(vae_def, vae_params)
                return program(dit, vae, config, *args)

            return bound

        pushing = _over_slots(models(push))
        self._programs = {
            # Apart, so the batcher never stacks the first frame alone with groups of 4.
            "push_first": pushing,
            "push": pushing,
            "generate": _over_slots(models(generate)),
            "commit_latent": _over_slots(models(commit_latent)),
        }
        self.batcher = self._new_batcher(slots, workers or default_workers())

        def encode(params, frames, state):
            return nnx.merge(vae_def, params).encode_step(frames, state)

        def decode(params, latent, state):
            return nnx.merge(vae_def, params).decode_step(latent, state)

        def commit(params, cache: KVCache, latent, window, anchor_on, seed) -> KVCache:
            model = nnx.merge(dit_def, params)
            return commit_context(
                model, dit_config, cache, latent, window, anchor_on, seed, context_noise
            )

        def denoise(params, cache: KVCache, x, s, s_next, window, anchor_on, z0, guidance, origin):
            model = nnx.merge(dit_def, params)
            frames = x.shape[1]
            s_frames = jnp.full(x.shape[:2], s, jnp.float32)  # (B, F)
            segments = cached_segments(dit_config, cache, frames, window, anchor_on)
            velocity, _, _ = model(x, s_frames, segments)
            return euler_update(x, velocity, s, s_next, z0, guidance, origin)

        self.stages: dict[str, Callable] = {
            "encode": jax.jit(encode),
            "decode": jax.jit(decode),
            "commit": jax.jit(commit),
            "denoise": jax.jit(denoise),
        }
        self.vae = vae

    @classmethod
    def load(
        cls,
        path: str | pathlib.Path | None = None,
        slots: int = DEFAULT_SLOTS,
        workers: int | None = None,
    ) -> Engine:
        """Load a checkpoint folder; None loads the default model shipped with the package, or,
        while none is shipped, a randomly initialised model of the SMALL preset (seed 0).
        slots: sessions one compiled call serves at once; workers: calls in flight at once
        (default: default_workers())."""
        if path is None:
            if not is_checkpoint(DEFAULT_CHECKPOINT):
                vae, dit = build_models(SMALL, seed=0)
                return cls(SMALL, vae, dit, {"name": RANDOM_INIT_NAME}, slots, workers)
            path = DEFAULT_CHECKPOINT
        config, vae, dit, info = load_model(path)
        info.setdefault("name", pathlib.Path(path).name)
        return cls(config, vae, dit, info, slots, workers)

    def open(
        self,
        anchor: str = DEFAULT_ANCHOR,
        seed: int = 0,
        steps: int | None = None,
        window: int | None = None,
        guidance: float | None = None,
    ) -> Session:
        """Start a session. anchor: none | attention | guidance | both; steps: Euler steps per
        chunk (default from the config); window: latent frames of rolling context, 1..the
        config's window_frames; guidance: lambda of the guidance anchor."""
        check_anchor_mode(anchor)
        return Session(
            self, anchor=anchor, seed=seed, steps=steps, window=window, guidance=guidance
        )

    def with_dit_params(self, params: Any) -> Engine:
        """The same model and compiled programs with other DiT parameters of the same shapes (a
        training run's eval): nothing is traced or compiled again."""
        engine = copy.copy(self)
        engine.dit_params = params
        engine.batcher = engine._new_batcher(self.batcher.slots, self.batcher.workers)
        return engine

    def _new_batcher(self, slots: int, workers: int) -> Batcher:
        return Batcher(self.run_slots, slots, workers, first=URGENT_PROGRAMS)

    def with_sampler(self, **changes: Any) -> Engine:
        """The same weights under other sampler settings, e.g. context_noise=0.0 (an ablation)."""
        sampler = dataclasses.replace(self.config.sampler, **changes)
        config = dataclasses.replace(self.config, sampler=sampler)
        dit = nnx.merge(self.dit_def, self.dit_params)
        return Engine(config, self.vae, dit, self.info, self.batcher.slots, self.batcher.workers)

    def warm_up(self) -> None:
        """Compile every program a session runs (a server does this before it reports SERVING).
        Compiling them side by side was measured no faster on 2 cores (15-17 s either way)."""
        config, size = self.config, self.config.image_size
        settings = session_settings(
            config.dit.window_frames, True, 0.0, 0, config.sampler.steps, config.sampler
        )
        encoder, timeline = self.new_encoder_state(), self.new_timeline()
        frames = np.zeros((1, TEMPORAL_FACTOR, size, size, 3), np.uint8)
        calls = {
            "push_first": (encoder, timeline, frames[:, :1], settings),
            "push": (encoder, timeline, frames, settings),
            "generate": (timeline, settings),
        }
        for name, args in calls.items():
            self.run_slots(name, [args] * self.batcher.slots)

    # The programs, batched with every other session calling at the same time.

    def run_slots(self, program: Hashable, slots: Sequence[tuple[Any, ...]]) -> Sequence[Any]:
        """One compiled call of a program ("push_first", "push", "generate", "commit_latent")
        over the slots' arguments, in order: what the batcher runs each tick. It waits for the
        results: with JAX's asynchronous dispatch every session's call would otherwise be in
        XLA's queue at once, sharing the cores in dispatch order, and the batcher's order
        (batcher.py) would decide nothing."""
        return jax.block_until_ready(
            self._programs[program](self.dit_params, self.vae_params, tuple(slots))
        )

    def new_timeline(self) -> Timeline:
        return new_timeline(self.config, self.vae)

    def new_encoder_state(self) -> Any:
        size = self.config.image_size
        return self.vae.init_encoder_state(1, size, size)

    def push(
        self, encoder: Any, timeline: Timeline, frames: np.ndarray, settings: SessionSettings
    ) -> tuple[jax.Array, Any, Timeline]:
        """Real uint8 frames (1, G, S, S, 3), G = 1 for the first group and 4 after -> the latent
        frame (1, 1, h, w, C), the encoder state and the timeline after them."""
        program = "push_first" if frames.shape[1] == 1 else "push"
        return self.batcher.call(program, encoder, timeline, frames, settings)

    def generate(self, timeline: Timeline, settings: SessionSettings) -> tuple[Chunk, Timeline]:
        """The timeline's next chunk (denoised, committed, decoded) and the timeline after it."""
        return self.batcher.call("generate", timeline, settings)

    def commit_latent(
        self, timeline: Timeline, latent: jax.Array, settings: SessionSettings
    ) -> Timeline:
        """The timeline after a known clean latent frame (1, 1, h, w, C), without pixels."""
        return self.batcher.call("commit_latent", timeline, latent, settings)[1]

    # Stages one by one. Frames are float32 in [-1, 1].

    def new_cache(self) -> KVCache:
        return init_cache(self.config.dit)

    def new_decoder_state(self) -> Any:
        size = self.config.image_size
        return self.vae.init_decoder_state(1, size, size)

    def encode(self, frames: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        """(1, 1 or 4, S, S, 3) frames -> one latent frame (1, 1, s, s, C) and the new state."""
        return self.stages["encode"](self.vae_params, frames, state)

    def decode(self, latent: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        """One latent frame (1, 1, s, s, C) -> 4 frames (1, 4, S, S, 3) and the new state."""
        return self.stages["decode"](self.vae_params, latent, state)

    def decode_frames(self, latents: jax.Array, state: Any) -> tuple[np.ndarray, Any]:
        """Latent frames (1, F, s, s, C) -> uint8 frames (4F, S, S, 3) and the new state."""
        frames = []
        for f in range(latents.shape[1]):
            decoded, state = self.decode(latents[:, f : f + 1], state)
            frames.append(decoded[0])  # (4, S, S, 3)
        return np.asarray(to_uint8(jnp.concatenate(frames))), state  # (4F, S, S, 3)

    def commit(
        self, cache: KVCache, latent: jax.Array, window: int, anchor_on: bool, seed: int
    ) -> KVCache:
        """Write a clean latent frame (1, 1, s, s, C) into the cache, noised as context is in
        training (sampler.noised_context; the session's seed)."""
        return self.stages["commit"](
            self.dit_params, cache, latent, np.int32(window), np.bool_(anchor_on), np.uint32(seed)
        )

    def denoise(
        self,
        cache: KVCache,
        x: jax.Array,
        s: float,
        s_next: float,
        window: int,
        anchor_on: bool,
        z0: jax.Array,
        guidance: float,
        origin: jax.Array,
    ) -> jax.Array:
        """One Euler step of a chunk (1, F, s, s, C) from diffusion time s to s_next; origin
        (1, 1, s, s, C) is what it is relative to (sampler.flow_origin)."""
        return self.stages["denoise"](
            self.dit_params,
            cache,
            x,
            np.float32(s),
            np.float32(s_next),
            np.int32(window),
            np.bool_(anchor_on),
            z0,
            np.float32(guidance),
            origin,
        )
