"""Causal diffusion transformer over latent frames (Flax NNX).

Tokens are spatial patches of latent frames, frame-major. Every block is AdaLN-Zero conditioned on
its frame's diffusion time, so clean context (time 0) and noisy chunk frames share one pass. The
blocks do not know about caches: the caller hands each attention layer a function that turns the
layer's own keys and values into the segments it attends to (cache + self, or a masked sequence).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from stream.config import DiTConfig
from stream.model.attention import Segment, segmented_attention

MakeSegments = Callable[[int, jax.Array, jax.Array], list[Segment]]


def timestep_features(s: jax.Array, dim: int = 256) -> jax.Array:
    """Sinusoidal features of diffusion times s in [0, 1], (...,) -> (..., dim)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(10_000.0) * jnp.arange(half, dtype=jnp.float32) / half)
    angles = (s * 1000.0)[..., None] * freqs  # (..., half)
    return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def modulate(x: jax.Array, shift: jax.Array, scale: jax.Array) -> jax.Array:
    return x * (1.0 + scale) + shift


class Attention(nnx.Module):
    def __init__(self, config: DiTConfig, *, rngs: nnx.Rngs):
        self.heads, self.head_dim = config.heads, config.head_dim
        self.qkv = nnx.Linear(config.dim, 3 * config.dim, rngs=rngs)
        self.q_norm = nnx.RMSNorm(config.head_dim, rngs=rngs)
        self.k_norm = nnx.RMSNorm(config.head_dim, rngs=rngs)
        self.out = nnx.Linear(config.dim, config.dim, rngs=rngs)

    def __call__(
        self, x: jax.Array, make_segments: Callable[[jax.Array, jax.Array], list[Segment]]
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        b, length, _ = x.shape
        qkv = self.qkv(x).reshape(b, length, 3, self.heads, self.head_dim)  # (B, L, 3, H, hd)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (B, L, H, hd) each
        q, k = self.q_norm(q), self.k_norm(k)
        y = segmented_attention(q, make_segments(k, v))  # (B, L, H, hd)
        return self.out(y.reshape(b, length, -1)), k, v  # (B, L, D); k, v unrotated


class Block(nnx.Module):
    def __init__(self, config: DiTConfig, *, rngs: nnx.Rngs):
        self.tokens_per_frame = config.tokens_per_frame
        hidden = int(config.dim * config.mlp_ratio)
        self.norm1 = nnx.LayerNorm(config.dim, use_bias=False, use_scale=False, rngs=rngs)
        self.attn = Attention(config, rngs=rngs)
        self.norm2 = nnx.LayerNorm(config.dim, use_bias=False, use_scale=False, rngs=rngs)
        self.fc1 = nnx.Linear(config.dim, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, config.dim, rngs=rngs)
        # AdaLN-Zero: the modulation starts at zero, so every block starts as the identity.
        self.modulation = nnx.Linear(
            config.dim, 6 * config.dim, kernel_init=nnx.initializers.zeros, rngs=rngs
        )

    def __call__(
        self,
        x: jax.Array,
        cond: jax.Array,
        make_segments: Callable[[jax.Array, jax.Array], list[Segment]],
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """x (B, F*N, D) tokens of F frames whose diffusion-time embeddings are cond (B, F, D)."""
        # Modulate per frame, then broadcast to the frame's tokens: N times fewer FLOPs.
        mods = self.modulation(jax.nn.silu(cond))  # (B, F, 6D)
        mods = jnp.repeat(mods, self.tokens_per_frame, axis=1)  # (B, F*N, 6D)
        mods = jnp.split(mods, 6, axis=-1)  # 6 x (B, F*N, D)
        shift1, scale1, gate1, shift2, scale2, gate2 = mods
        attn_out, k, v = self.attn(modulate(self.norm1(x), shift1, scale1), make_segments)
        x = x + gate1 * attn_out
        hidden = jax.nn.gelu(self.fc1(modulate(self.norm2(x), shift2, scale2)))  # (B, L, 4D)
        x = x + gate2 * self.fc2(hidden)
        return x, k, v


class DiT(nnx.Module):
    """Predicts the flow velocity eps - x0 of every frame of a latent sequence."""

    def __init__(self, config: DiTConfig, *, rngs: nnx.Rngs):
        self.config = config
        patch_dim = config.patch * config.patch * config.latent_channels
        self.patch_in = nnx.Linear(patch_dim, config.dim, rngs=rngs)
        self.time_in = nnx.Linear(256, config.dim, rngs=rngs)
        self.time_hidden = nnx.Linear(config.dim, config.dim, rngs=rngs)
        self.blocks = nnx.List([Block(config, rngs=rngs) for _ in range(config.depth)])
        self.final_norm = nnx.LayerNorm(config.dim, use_bias=False, use_scale=False, rngs=rngs)
        self.final_modulation = nnx.Linear(
            config.dim, 2 * config.dim, kernel_init=nnx.initializers.zeros, rngs=rngs
        )
        self.patch_out = nnx.Linear(
            config.dim, patch_dim, kernel_init=nnx.initializers.zeros, rngs=rngs
        )

    def patchify(self, latents: jax.Array) -> jax.Array:
        b, f, h, w, c = latents.shape
        p = self.config.patch
        x = latents.reshape(b, f, h // p, p, w // p, p, c)
        x = x.transpose(0, 1, 2, 4, 3, 5, 6)  # (B, F, h/p, w/p, p, p, C)
        return x.reshape(b, f * (h // p) * (w // p), p * p * c)  # (B, F*N, p*p*C)

    def unpatchify(self, tokens: jax.Array, frames: int) -> jax.Array:
        b = tokens.shape[0]
        p, side = self.config.patch, self.config.latent_size // self.config.patch
        c = self.config.latent_channels
        x = tokens.reshape(b, frames, side, side, p, p, c)
        x = x.transpose(0, 1, 2, 4, 3, 5, 6)  # (B, F, h/p, p, w/p, p, C)
        return x.reshape(b, frames, side * p, side * p, c)  # (B, F, h, w, C)

    def __call__(
        self, latents: jax.Array, s: jax.Array, make_segments: MakeSegments
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """latents (B, F, h, w, C) at per-frame diffusion times s (B, F).

        Returns the velocity (B, F, h, w, C) and every layer's unrotated keys and values,
        (depth, B, F*N, H, hd) each, which the cached path commits.
        """
        frames = latents.shape[1]
        n = self.config.tokens_per_frame
        x = self.patch_in(self.patchify(latents))  # (B, F*N, D)
        cond = self.time_hidden(jax.nn.silu(self.time_in(timestep_features(s))))  # (B, F, D)
        keys, values = [], []
        for layer, block in enumerate(self.blocks):
            x, k, v = block(x, cond, lambda k, v, layer=layer: make_segments(layer, k, v))
            keys.append(k)
            values.append(v)
        final = jnp.repeat(self.final_modulation(jax.nn.silu(cond)), n, axis=1)  # (B, F*N, 2D)
        shift, scale = jnp.split(final, 2, axis=-1)
        x = self.patch_out(modulate(self.final_norm(x), shift, scale))  # (B, F*N, p*p*C)
        return self.unpatchify(x, frames), jnp.stack(keys), jnp.stack(values)
