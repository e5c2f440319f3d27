"""The engine: one loaded model and its compiled stages, shared by every session.

Each stage is a jitted pure function of (parameters, explicit state, inputs) with fixed shapes, so
it compiles once per engine and serves every chunk of every session: encoder step (1 frame for the
first, then 4), decoder step, DiT commit of one clean latent frame, and the chunk program, which
denoises a chunk (all Euler steps in one loop), commits and decodes it in one call, so no host
work sits between its parts. The single denoising step stays a stage for the benchmark.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.anchor import DEFAULT_ANCHOR, check_anchor_mode
from stream.checkpoint import build_models, is_checkpoint, load_model
from stream.chunk import SessionSettings, commit_chunk, denoise_chunk
from stream.config import EngineConfig
from stream.detail import carry_detail
from stream.dit import DiT
from stream.kv_cache import KVCache, cached_segments, commit_context, init_cache
from stream.pixels import to_uint8
from stream.sampler import euler_update
from stream.session import Session
from stream.vae import CausalVAE

DEFAULT_CHECKPOINT = pathlib.Path(__file__).parent / "assets" / "default_model"
RANDOM_INIT_NAME = "random-init (seed 0, default config): extends video with noise until trained"


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        vae: CausalVAE,
        dit: DiT,
        info: dict[str, Any] | None = None,
    ):
        self.config = config
        self.info = dict(info or {})
        self.name: str = self.info.get("name", RANDOM_INIT_NAME)
        vae_def, self.vae_params = nnx.split(vae)
        dit_def, self.dit_params = nnx.split(dit)
        self.dit_def = dit_def
        dit_config = config.dit
        context_noise = config.sampler.context_noise

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

        detail_width = config.sampler.detail_width

        def chunk(
            dit_params, vae_params, cache, decoder, noise, last, schedule, settings, z0, reference
        ):
            model = nnx.merge(dit_def, dit_params)
            x = denoise_chunk(model, dit_config, cache, noise, last, schedule, settings, z0)
            cache = commit_chunk(model, dit_config, cache, x, settings, context_noise)
            vae = nnx.merge(vae_def, vae_params)
            frames = []
            for f in range(x.shape[1]):
                decoded, decoder = vae.decode_step(x[:, f : f + 1], decoder)  # (1, 4, S, S, 3)
                frames.append(decoded[0])
            pixels = carry_detail(
                jnp.concatenate(frames), *reference, detail_width
            )  # (4F, S, S, 3)
            return x, to_uint8(pixels), cache, decoder

        self._encode = jax.jit(encode)
        self._chunk = jax.jit(chunk, donate_argnums=2)
        self._decode = jax.jit(decode)
        self._commit = jax.jit(commit, donate_argnums=1)
        self._denoise = jax.jit(denoise)
        self._vae = nnx.merge(vae_def, self.vae_params)

    @classmethod
    def load(cls, path: str | pathlib.Path | None = None) -> Engine:
        """Load a checkpoint folder; None loads the default model shipped with the package, or,
        while none is shipped, a randomly initialised model of the default config (seed 0)."""
        if path is None:
            if not is_checkpoint(DEFAULT_CHECKPOINT):
                config = EngineConfig()
                return cls(config, *build_models(config, seed=0), info={"name": RANDOM_INIT_NAME})
            path = DEFAULT_CHECKPOINT
        config, vae, dit, info = load_model(path)
        info.setdefault("name", pathlib.Path(path).name)
        return cls(config, vae, dit, info)

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
        """The same model and compiled stages with other DiT parameters of the same shapes (a
        training run's eval): nothing is traced or compiled again."""
        engine = copy.copy(self)
        engine.dit_params = params
        return engine

    def with_sampler(self, **changes: Any) -> Engine:
        """The same weights under other sampler settings, e.g. context_noise=0.0 (an ablation)."""
        sampler = dataclasses.replace(self.config.sampler, **changes)
        config = dataclasses.replace(self.config, sampler=sampler)
        return Engine(config, self._vae, nnx.merge(self.dit_def, self.dit_params), self.info)

    # Stages, as the session and the benchmark call them. Frames are float32 in [-1, 1].

    def new_cache(self) -> KVCache:
        return init_cache(self.config.dit)

    def new_encoder_state(self):
        size = self.config.image_size
        return self._vae.init_encoder_state(1, size, size)

    def new_decoder_state(self):
        size = self.config.image_size
        return self._vae.init_decoder_state(1, size, size)

    def encode(self, frames: jax.Array, state):
        """(1, 1 or 4, S, S, 3) frames -> one latent frame (1, 1, s, s, C) and the new state."""
        return self._encode(self.vae_params, frames, state)

    def decode(self, latent: jax.Array, state):
        """One latent frame (1, 1, s, s, C) -> 4 frames (1, 4, S, S, 3) and the new state."""
        return self._decode(self.vae_params, latent, state)

    def chunk(
        self,
        cache: KVCache,
        decoder: Any,
        noise: jax.Array,
        last_latent: jax.Array,
        schedule: np.ndarray,
        settings: SessionSettings,
        z0: jax.Array,
        reference: tuple[jax.Array, jax.Array],
    ) -> tuple[jax.Array, np.ndarray, KVCache, Any]:
        """Generate one chunk in one compiled program: denoise it from noise (1, F, s, s, C)
        along the schedule, commit it and decode it; last_latent (1, 1, s, s, C) is the clean
        latent frame before the chunk; reference is (decoding of the last real frame, that frame
        minus its decoding), each (S, S, 3), for detail carry-over (zeros: none to carry).

        Returns the clean latents (1, F, s, s, C), their uint8 frames (4F, S, S, 3), and the
        new cache and decoder state; the cache passed in is consumed."""
        latents, pixels, cache, decoder = self._chunk(
            self.dit_params,
            self.vae_params,
            cache,
            decoder,
            noise,
            last_latent,
            jnp.asarray(schedule, jnp.float32),
            settings,
            z0,
            reference,
        )
        return latents, np.asarray(pixels), cache, decoder

    def decode_frames(self, latents: jax.Array, state) -> tuple[np.ndarray, Any]:
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
        training (sampler.noised_context; the session's seed). The cache passed in is consumed."""
        return self._commit(
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
        return self._denoise(
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
