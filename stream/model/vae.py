"""Causal 3D VAE: 2^(levels-1) spatial and 4x temporal compression, exact streaming encode/decode.

Every temporal convolution sees only the past: its zero padding is kt-1 frames before the clip,
and in streaming a cache of the conv's last kt-1 input frames takes the padding's place, so any
chunking gives the same result as one whole-sequence pass. Normalisation is RMS over channels at
each position and attention stays inside one frame: no statistics are shared across time or space.

Frame 0 is encoded alone and each later group of 4 frames gives one latent: 1 + 4k frames -> 1 + k
latents. The two temporal stride-2 convs take their outputs end-aligned (input indices T-1, T-3,
...); a 1-frame first step, a 4-frame later step and a whole 1 + 4k clip all end at an even time,
so one rule serves all three. The decoder turns every latent into 4 frames (depth-to-space in time,
twice); the first latent's first 3 frames are surplus and the whole-sequence decode drops them.

Speed, measured on our 2-core AMD EPYC (AVX2, no AVX-512; shared with other jobs, where a 2048^2
matmul ran at ~64 GFLOP/s), best of 50, per frame at 64x64x16 in and out:
  causal conv kt=3 as conv3d:                   6.4 ms/frame (9 GFLOP/s)
  causal conv kt=3 as conv2d, time-stacked:     0.81 ms/frame (68 GFLOP/s)  <- every causal conv
  spatial-only conv kt=1:                       0.24 ms/frame (76 GFLOP/s)
Default config, one 4-frame encode_step + one decode_step, best of 40:
  kt=3 in every res-block conv and upsampler:   3.9 GFLOP, 79 ms
  kt=1 in each res block's second conv:         3.1 GFLOP, 59 ms
  ... and kt=1 upsamplers:                      2.4 GFLOP, 42 ms
  ... and kt=1 res blocks at full frame rate:   1.7 GFLOP, 37 ms  <- chosen
So temporal mixing lives where frames are few: the reduced-rate levels, the stride-2 temporal
downsamplers and the input and output convs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

TEMPORAL_FACTOR = 4  # two stride-2 temporal down/upsamplings, into the two lowest-resolution levels

# One cache per causal conv with kt > 1, keyed by the conv's name: its last kt-1 input frames.
EncoderState = dict[str, jax.Array]
DecoderState = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    latent_channels: int = 8
    base_channels: int = 16  # channels at full resolution
    # One entry per level; each level after the first halves the resolution, so 4 levels give
    # 8x spatial compression and 3 give 4x. The last two levels run at 1/2 and 1/4 the frame rate.
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    num_res_blocks: int = 1  # per level, in both encoder and decoder
    frame_attention: bool = True  # self-attention within one frame at the lowest resolution
    # Latents leave the encoder multiplied by this and enter the decoder divided by it: set once
    # the VAE is trained, so the DiT sees latents of about unit variance, like its noise.
    latent_scale: float = 1.0
    # Parameter-free shortcuts around every resampling step (space/time-to-channel and
    # channel-averaging down, channel-repeat and depth-to-space up), as in DC-AE (Chen et al.,
    # 2024): the convs learn a residual over them, which trains much faster at high compression.
    # Off by default so configs written before the option keep their meaning.
    shortcuts: bool = False

    def __post_init__(self) -> None:
        if len(self.channel_mults) < 3:
            raise ValueError(
                f"channel_mults needs at least 3 levels (two run at reduced frame rate), "
                f"got {self.channel_mults}"
            )
        if not self.latent_scale > 0:
            raise ValueError(f"latent_scale must be positive, got {self.latent_scale}")

    @property
    def levels(self) -> int:
        return len(self.channel_mults)

    @property
    def spatial_factor(self) -> int:
        return 2 ** (self.levels - 1)

    @property
    def temporal_factor(self) -> int:
        return TEMPORAL_FACTOR

    def channels(self, level: int) -> int:
        return self.base_channels * self.channel_mults[level]


def _default_init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Normal(0, 1/fan_in), fan_in = all but the last axis: keeps untrained activations O(1).

    Sampled from a power-of-two-length draw and sliced, because XLA:CPU compiles the sampler anew
    for every shape (~0.5-1 s each here) and the model has dozens of parameter shapes.
    """
    n = math.prod(shape)
    draw = jax.random.normal(key, (1 << (n - 1).bit_length(),), dtype)[:n]  # (n,)
    return draw.reshape(shape) * (1 / math.sqrt(n // shape[-1]))


def _reduced_rate(level: int, levels: int) -> bool:
    return level >= levels - 2


def _level_kt(level: int, levels: int) -> int:
    """Temporal kernel of a level's res blocks: 1 at the full frame rate (see the docstring)."""
    return 3 if _reduced_rate(level, levels) else 1


def match_channels(x: jax.Array, channels: int) -> jax.Array:
    """Parameter-free change of the last axis: mean over runs of consecutive channels, or each
    channel repeated."""
    c = x.shape[-1]
    if c % channels == 0:
        return x.reshape(*x.shape[:-1], channels, c // channels).mean(-1)  # (..., channels)
    if channels % c == 0:
        return jnp.repeat(x, channels // c, axis=-1)  # (..., channels)
    raise ValueError(f"cannot match {c} channels to {channels}: neither divides the other")


def space_to_depth(x: jax.Array) -> jax.Array:
    """(B, T, H, W, C) -> (B, T, H/2, W/2, 4C): each 2x2 block of pixels becomes one position."""
    B, T, H, W, C = x.shape
    x = x.reshape(B, T, H // 2, 2, W // 2, 2, C).transpose(0, 1, 2, 4, 3, 5, 6)
    return x.reshape(B, T, H // 2, W // 2, 4 * C)  # (B, T, H/2, W/2, 4C)


class CausalConv(nnx.Module):
    """Conv of kernel (kt, k, k) whose output t sees frames [t-kt+1 .. t], never the future.

    `caches` supplies this conv's past kt-1 input frames (zeros, i.e. zero padding, when absent) and
    receives its new ones in place.
    """

    def __init__(
        self,
        name: str,
        cin: int,
        cout: int,
        *,
        rngs: nnx.Rngs,
        kt: int = 3,
        k: int = 3,
        stride_t: int = 1,
        stride_s: int = 1,
        kernel_init: Callable = _default_init,
        shortcut: bool = False,
    ):
        if shortcut and (stride_s != 2 or stride_t > kt):
            raise ValueError("a shortcut needs stride_s=2 and stride_t <= kt")
        self.name, self.kt, self.stride_t, self.stride_s = name, kt, stride_t, stride_s
        self.cout, self.shortcut = cout, shortcut
        self.kernel = nnx.Param(kernel_init(rngs.params(), (k, k, kt * cin, cout)))
        self.bias = nnx.Param(jnp.zeros((cout,)))

    def __call__(self, x: jax.Array, caches: dict[str, jax.Array]) -> jax.Array:
        B, T, H, W, C = x.shape
        if self.kt > 1:
            past = caches.get(self.name, jnp.zeros((B, self.kt - 1, H, W, C), x.dtype))
            x = jnp.concatenate([past, x], axis=1)  # (B, kt-1+T, H, W, C)
            caches[self.name] = x[:, T:]  # (B, kt-1, H, W, C)
        n_out = -(-T // self.stride_t)
        # End-aligned: the last output sits on the last input frame (see the module docstring).
        start = T - 1 - self.stride_t * (n_out - 1)
        stop = start + self.stride_t * (n_out - 1) + 1
        taps = [x[:, start + j : stop + j : self.stride_t] for j in range(self.kt)]
        x = jnp.concatenate(taps, axis=-1)  # (B, T', H, W, kt*C)
        y = jax.lax.conv_general_dilated(
            x.reshape(B * n_out, H, W, self.kt * C),
            self.kernel[...],
            (self.stride_s, self.stride_s),
            "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )  # (B*T', H', W', Cout)
        y = (y + self.bias[...]).reshape(B, n_out, *y.shape[1:])  # (B, T', H', W', Cout)
        if self.shortcut:
            # The frames each output stands for (the newest stride_t taps) and their 2x2 blocks,
            # stacked into channels and averaged down to Cout.
            newest = jnp.concatenate(taps[self.kt - self.stride_t :], axis=-1)  # (B, T', H, W, sC)
            y = y + match_channels(space_to_depth(newest), self.cout)  # (B, T', H', W', Cout)
        return y


class RMSNorm(nnx.Module):
    """RMS over channels at each position."""

    def __init__(self, channels: int):
        self.scale = nnx.Param(jnp.ones((channels,)))

    def __call__(self, x: jax.Array) -> jax.Array:
        ms = jnp.mean(jnp.square(x), axis=-1, keepdims=True)  # (..., 1)
        return x * jax.lax.rsqrt(ms + 1e-6) * self.scale[...]


class ResBlock(nnx.Module):
    """Pre-norm residual block: a (kt, 3, 3) conv, then a spatial-only (1, 3, 3) conv."""

    def __init__(self, name: str, channels: int, kt: int, *, rngs: nnx.Rngs):
        self.norm1 = RMSNorm(channels)
        self.conv1 = CausalConv(f"{name}.conv1", channels, channels, rngs=rngs, kt=kt)
        self.norm2 = RMSNorm(channels)
        self.conv2 = CausalConv(f"{name}.conv2", channels, channels, rngs=rngs, kt=1)

    def __call__(self, x: jax.Array, caches: dict[str, jax.Array]) -> jax.Array:
        h = self.conv1(nnx.silu(self.norm1(x)), caches)
        h = self.conv2(nnx.silu(self.norm2(h)), caches)
        # 1/sqrt(2) keeps the residual stream at unit scale through depth at init.
        return (x + h) * (1 / math.sqrt(2))


class FrameAttention(nnx.Module):
    """Single-head self-attention among the tokens of one frame; frames never see each other."""

    def __init__(self, channels: int, *, rngs: nnx.Rngs):
        self.norm = RMSNorm(channels)
        self.qkv = nnx.Linear(channels, 3 * channels, kernel_init=_default_init, rngs=rngs)
        self.out = nnx.Linear(channels, channels, kernel_init=_default_init, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        B, T, H, W, C = x.shape
        qkv = self.qkv(self.norm(x)).reshape(B * T, H * W, 3 * C)  # (B*T, HW, 3C)
        q, k, v = jnp.split(qkv, 3, axis=-1)  # (B*T, HW, C) each
        att = jnp.einsum("nqc,nkc->nqk", q, k) / math.sqrt(C)  # (B*T, HW, HW)
        h = jnp.einsum("nqk,nkc->nqc", jax.nn.softmax(att, axis=-1), v)  # (B*T, HW, C)
        h = self.out(h).reshape(B, T, H, W, C)  # (B, T, H, W, C)
        return (x + h) * (1 / math.sqrt(2))


def _icnr_init(ft: int) -> Callable:
    """Init for a conv feeding a (ft, 2, 2) depth-to-space whose 2x2 sub-pixels start identical.

    The upsampler then starts as nearest-neighbour upsampling of a conv output, which avoids the
    checkerboard pattern of a randomly initialised pixel shuffle.
    """

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        k, _, cin, cout = shape
        c = cout // (ft * 4)
        w = _default_init(key, (k, k, cin, ft * c), dtype)  # (k, k, Cin, ft*C)
        w = w.reshape(k, k, cin, ft, 1, 1, c)  # (k, k, Cin, ft, 1, 1, C)
        return jnp.broadcast_to(w, (k, k, cin, ft, 2, 2, c)).reshape(shape)  # (k, k, Cin, Cout)

    return init


class Upsample(nnx.Module):
    """Spatial conv to ft*4*Cout channels, then depth-to-space: 2x in space, ft = 2 or 1 in time.

    Every input frame yields ft output frames, the earlier one first.
    """

    def __init__(
        self,
        name: str,
        cin: int,
        cout: int,
        temporal: bool,
        *,
        rngs: nnx.Rngs,
        shortcut: bool = False,
    ):
        self.ft, self.cout, self.shortcut = (2 if temporal else 1), cout, shortcut
        self.conv = CausalConv(
            name, cin, self.ft * 4 * cout, rngs=rngs, kt=1, kernel_init=_icnr_init(self.ft)
        )

    def __call__(self, x: jax.Array, caches: dict[str, jax.Array]) -> jax.Array:
        B, T, H, W, C = x.shape
        y = self.conv(x, caches)  # (B, T, H, W, ft*2*2*Cout)
        if self.shortcut:
            # Each of the ft*2*2 sub-pixels takes its own run of the input's channels, repeated
            # up to Cout: depth-to-space of the input itself.
            parts = self.ft * 4
            sub = x.reshape(B, T, H, W, parts, C // parts)  # (B, T, H, W, ft*2*2, C/(ft*4))
            y = y + match_channels(sub, self.cout).reshape(y.shape)  # (B, T, H, W, ft*2*2*Cout)
        y = y.reshape(B, T, H, W, self.ft, 2, 2, -1)  # (B, T, H, W, ft, 2, 2, Cout)
        y = y.transpose(0, 1, 4, 2, 5, 3, 6, 7)  # (B, T, ft, H, 2, W, 2, Cout)
        return y.reshape(B, T * self.ft, 2 * H, 2 * W, -1)  # (B, ft*T, 2H, 2W, Cout)


class Encoder(nnx.Module):
    def __init__(self, cfg: VAEConfig, *, rngs: nnx.Rngs):
        c, n, top = cfg.channels, cfg.num_res_blocks, cfg.levels - 1
        self.conv_in = CausalConv("enc.in", 3, c(0), rngs=rngs)
        self.levels = nnx.List(
            [
                nnx.List(
                    [
                        ResBlock(f"enc.l{lv}.b{i}", c(lv), _level_kt(lv, cfg.levels), rngs=rngs)
                        for i in range(n)
                    ]
                )
                for lv in range(cfg.levels)
            ]
        )
        # Stride 2 in space at every step down, and in time (kt=3) into the reduced-rate levels.
        self.downs = nnx.List(
            [
                CausalConv(
                    f"enc.down{lv}",
                    c(lv),
                    c(lv + 1),
                    rngs=rngs,
                    kt=_level_kt(lv + 1, cfg.levels),
                    stride_t=2 if _reduced_rate(lv + 1, cfg.levels) else 1,
                    stride_s=2,
                    shortcut=cfg.shortcuts,
                )
                for lv in range(top)
            ]
        )
        self.mid_attn = FrameAttention(c(top), rngs=rngs) if cfg.frame_attention else None
        self.mid_block = ResBlock("enc.mid", c(top), 3, rngs=rngs)
        self.norm_out = RMSNorm(c(top))
        self.conv_out = CausalConv("enc.out", c(top), 2 * cfg.latent_channels, rngs=rngs)
        self.latent_channels, self.shortcuts = cfg.latent_channels, cfg.shortcuts

    def __call__(self, x: jax.Array, caches: dict[str, jax.Array]) -> jax.Array:
        x = self.conv_in(x, caches)  # (B, T, H, W, C0)
        for lv, blocks in enumerate(self.levels):
            if lv > 0:
                x = self.downs[lv - 1](x, caches)  # (B, T_lv, H/2^lv, W/2^lv, C_lv)
            for block in blocks:
                x = block(x, caches)
        if self.mid_attn is not None:
            x = self.mid_attn(x)
        x = self.mid_block(x, caches)  # (B, T', h, w, C_top)
        moments = self.conv_out(nnx.silu(self.norm_out(x)), caches)  # (B, T', h, w, 2*Cz)
        if self.shortcuts:
            cz = self.latent_channels
            moments = moments.at[..., :cz].add(match_channels(x, cz))  # the mean's half
        return moments


class Decoder(nnx.Module):
    def __init__(self, cfg: VAEConfig, *, rngs: nnx.Rngs):
        c, n, top = cfg.channels, cfg.num_res_blocks, cfg.levels - 1
        self.scale = cfg.latent_scale
        self.conv_in = CausalConv("dec.in", cfg.latent_channels, c(top), rngs=rngs)
        self.top_channels, self.shortcuts = c(top), cfg.shortcuts
        self.mid_block = ResBlock("dec.mid", c(top), 3, rngs=rngs)
        self.mid_attn = FrameAttention(c(top), rngs=rngs) if cfg.frame_attention else None
        self.levels = nnx.List(
            [
                nnx.List(
                    [
                        ResBlock(f"dec.l{lv}.b{i}", c(lv), _level_kt(lv, cfg.levels), rngs=rngs)
                        for i in range(n)
                    ]
                )
                for lv in reversed(range(cfg.levels))
            ]
        )
        # Mirror of the encoder: 2x in space at every step up, and 2x in time out of the
        # reduced-rate levels.
        self.ups = nnx.List(
            [
                Upsample(
                    f"dec.up{lv}",
                    c(lv),
                    c(lv - 1),
                    _reduced_rate(lv, cfg.levels),
                    rngs=rngs,
                    shortcut=cfg.shortcuts,
                )
                for lv in reversed(range(1, cfg.levels))
            ]
        )
        self.norm_out = RMSNorm(c(0))
        self.conv_out = CausalConv("dec.out", c(0), 3, rngs=rngs)

    def __call__(self, z: jax.Array, caches: dict[str, jax.Array]) -> jax.Array:
        z = z / self.scale
        x = self.conv_in(z, caches)  # (B, T', h, w, C_top)
        if self.shortcuts:
            x = x + match_channels(z, self.top_channels)
        x = self.mid_block(x, caches)
        if self.mid_attn is not None:
            x = self.mid_attn(x)
        for i, blocks in enumerate(self.levels):
            if i > 0:
                x = self.ups[i - 1](x, caches)  # (B, T_lv, H/2^lv, W/2^lv, C_lv)
            for block in blocks:
                x = block(x, caches)
        return self.conv_out(nnx.silu(self.norm_out(x)), caches)  # (B, 4T', H, W, 3)


class CausalVAE(nnx.Module):
    def __init__(self, config: VAEConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.encoder = Encoder(config, rngs=rngs)
        self.decoder = Decoder(config, rngs=rngs)

    def _moments(
        self, frames: jax.Array, caches: dict[str, jax.Array]
    ) -> tuple[jax.Array, jax.Array]:
        H, W = frames.shape[2:4]
        factor = self.config.spatial_factor
        if H % factor or W % factor:
            raise ValueError(f"frame size {H}x{W} is not a multiple of {factor}")
        moments = self.encoder(frames, caches)  # (B, T', h, w, 2*Cz)
        mean, logvar = jnp.split(moments, 2, axis=-1)  # (B, T', h, w, Cz) each
        scale = self.config.latent_scale
        return mean * scale, jnp.clip(logvar, -30.0, 20.0) + 2.0 * math.log(scale)

    def encode(self, frames: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(B, 1+4k, H, W, 3) in [-1, 1] -> (mean, logvar), each (B, 1+k, H/f, W/f, Cz)."""
        if frames.shape[1] % TEMPORAL_FACTOR != 1:
            raise ValueError(f"encode needs 1 + 4k frames, got {frames.shape[1]}")
        return self._moments(frames, {})

    def decode(self, latents: jax.Array) -> jax.Array:
        """(B, 1+k, h, w, Cz) -> (B, 1+4k, f*h, f*w, 3), unclipped; f the spatial factor."""
        frames = self.decoder(latents, {})  # (B, 4+4k, H, W, 3)
        return frames[:, TEMPORAL_FACTOR - 1 :]  # (B, 1+4k, H, W, 3)

    def init_encoder_state(self, batch: int, height: int, width: int) -> EncoderState:
        frame = jax.ShapeDtypeStruct((batch, 1, height, width, 3), jnp.float32)
        return _zero_state(lambda x: self.encode_step(x, {})[1], frame)

    def encode_step(self, frames: jax.Array, state: EncoderState) -> tuple[jax.Array, EncoderState]:
        """(B, 1, H, W, 3) on the first step, (B, 4, H, W, 3) after -> mean (B, 1, h, w, Cz)."""
        if frames.shape[1] not in (1, TEMPORAL_FACTOR):
            raise ValueError(
                f"encode_step takes 1 or {TEMPORAL_FACTOR} frames, got {frames.shape[1]}"
            )
        caches = dict(state)
        mean, _ = self._moments(frames, caches)  # (B, 1, h, w, Cz)
        return mean, caches

    def init_decoder_state(self, batch: int, height: int, width: int) -> DecoderState:
        h, w = height // self.config.spatial_factor, width // self.config.spatial_factor
        latent = jax.ShapeDtypeStruct((batch, 1, h, w, self.config.latent_channels), jnp.float32)
        return _zero_state(lambda z: self.decode_step(z, {})[1], latent)

    def decode_step(self, latent: jax.Array, state: DecoderState) -> tuple[jax.Array, DecoderState]:
        """(B, T, h, w, Cz) -> (B, 4T, H, W, 3); of the first latent keep only the last frame."""
        caches = dict(state)
        frames = self.decoder(latent, caches)  # (B, 4T, H, W, 3)
        return frames, caches


def _zero_state(step: Callable, example: jax.ShapeDtypeStruct) -> dict[str, jax.Array]:
    """Zeros shaped like the caches one step writes: the cache form of the causal zero padding."""
    shapes = jax.eval_shape(step, example)
    return {name: jnp.zeros(s.shape, s.dtype) for name, s in shapes.items()}


def sample_latent(mean: jax.Array, logvar: jax.Array, key: jax.Array) -> jax.Array:
    """Reparameterised sample mean + sigma * eps, differentiable in mean and logvar."""
    return mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape, mean.dtype)


def kl(mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mean, exp(logvar)) || N(0, I)) per latent element, averaged: a scalar."""
    return 0.5 * jnp.mean(jnp.square(mean) + jnp.exp(logvar) - 1.0 - logvar)
