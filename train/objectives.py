"""Training objectives: the VAE's reconstruction + KL, and the DiT's diffusion-forcing flow loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from stream.config import EngineConfig
from stream.dit import DiT
from stream.evaluation import psnr, ssim
from stream.layout import SequenceLayout, sequence_segments
from stream.vae import CausalVAE, kl, sample_latent
from train.config import DiTObjective, VAEObjective


def _spatial_gradients(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    return x[..., 1:, :, :] - x[..., :-1, :, :], x[..., :, 1:, :] - x[..., :, :-1, :]


def vae_loss(
    vae: CausalVAE, frames: jax.Array, key: jax.Array, objective: VAEObjective
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """frames (B, 1+4k, H, W, 3) in [-1, 1] -> weighted loss and its parts."""
    mean, logvar = vae.encode(frames)  # (B, 1+k, h, w, Cz) each
    recon = vae.decode(sample_latent(mean, logvar, key))  # (B, 1+4k, H, W, 3)
    error = recon - frames
    l1, l2 = jnp.abs(error).mean(), jnp.square(error).mean()
    (gy, gx), (ty, tx) = _spatial_gradients(recon), _spatial_gradients(frames)
    gradient = 0.5 * (jnp.abs(gy - ty).mean() + jnp.abs(gx - tx).mean())
    divergence = kl(mean, logvar)
    loss = (
        objective.l1_weight * l1
        + objective.l2_weight * l2
        + objective.gradient_weight * gradient
        + objective.kl_weight * divergence
    )
    metrics = {
        "l1": l1,
        "l2": l2,
        "gradient": gradient,
        "kl": divergence,
        "psnr": psnr(recon, frames),
        "latent_std": mean.std(),
    }
    return loss, metrics


def vae_reconstruction_metrics(vae: CausalVAE, frames: jax.Array) -> dict[str, jax.Array]:
    """PSNR and SSIM of reconstructing from the latent mean (as the engine does)."""
    mean, _ = vae.encode(frames)  # (B, 1+k, h, w, Cz)
    recon = jnp.clip(vae.decode(mean), -1.0, 1.0)  # (B, 1+4k, H, W, 3)
    return {"psnr": psnr(recon, frames), "ssim": ssim(recon, frames)}


def block_noise_levels(key: jax.Array, shape: tuple[int, ...], scale: float, shift: float):
    """Logit-normal times, warped like the sampler's schedule so training sees the levels that
    sampling spends its steps on."""
    u = jax.nn.sigmoid(scale * jax.random.normal(key, shape))
    return shift * u / (1.0 + (shift - 1.0) * u)


def _noised(x0: jax.Array, x1: jax.Array, s: jax.Array) -> jax.Array:
    """x_s = (1 - s) x0 + s x1 for per-frame times s (B, F) and frames (B, F, h, w, C)."""
    s = s[..., None, None, None]  # (B, F, 1, 1, 1)
    return (1.0 - s) * x0 + s * x1


def dit_loss(
    dit: DiT,
    latents: jax.Array,
    layout: SequenceLayout,
    key: jax.Array,
    engine: EngineConfig,
    objective: DiTObjective,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Flow matching under diffusion forcing on a teacher-forcing sequence.

    latents (B, L, h, w, C) are clean; the layout lists them (clean) followed by a noisy copy of
    some of them in blocks. Each block gets its own noise level, clean frames other than the
    anchor a little noise (with their s set so AdaLN knows), and the window and the attention
    anchor are drawn at random so one model serves every session setting.
    """
    dit_config = engine.dit
    b = latents.shape[0]
    # The layout is a constant of the compiled step: read it on the host.
    noisy = np.asarray(layout.noisy)
    clean_count = int((~noisy).sum())
    noisy_time = np.asarray(layout.time)[clean_count:]  # (N,)
    noisy_start = np.asarray(layout.block_start)[clean_count:]  # (N,)
    block_of = (noisy_start - noisy_start[0]) // dit_config.chunk_frames  # (N,) block index
    blocks = int(block_of[-1]) + 1
    k_block, k_ctx, k_eps, k_ctx_eps, k_window, k_full, k_anchor = jax.random.split(key, 7)

    s_block = block_noise_levels(
        k_block, (b, blocks), objective.logit_normal_scale, engine.sampler.shift
    )  # (B, blocks)
    s_noisy = s_block[:, block_of]  # (B, N)
    s_ctx = jax.random.uniform(k_ctx, (b, clean_count), maxval=objective.context_noise)
    s_ctx = s_ctx.at[:, 0].set(0.0)  # the anchor is always exact, as at inference
    x0_noisy = latents[:, noisy_time]  # (B, N, h, w, C)
    # A residual flow generates x0 - origin, the origin being the clean frame before each block
    # (as the engine holds it).
    if dit_config.flow_space == "residual":
        x0_noisy = x0_noisy - latents[:, noisy_start - 1]  # (B, N, h, w, C)
    x1 = jax.random.normal(k_eps, x0_noisy.shape)  # (B, N, h, w, C)
    ctx_eps = jax.random.normal(k_ctx_eps, latents[:, :clean_count].shape)
    inputs = jnp.concatenate(
        [_noised(latents[:, :clean_count], ctx_eps, s_ctx), _noised(x0_noisy, x1, s_noisy)],
        axis=1,
    )  # (B, clean + N, h, w, C)
    s = jnp.concatenate([s_ctx, s_noisy], axis=1)  # (B, clean + N)

    max_window = dit_config.window_frames
    window = jnp.where(
        jax.random.uniform(k_full) < objective.full_window,
        max_window,
        jax.random.randint(k_window, (), 1, max_window + 1),
    )
    anchor_on = jax.random.uniform(k_anchor) >= objective.anchor_drop
    segments = sequence_segments(dit_config, layout, window, anchor_on)
    velocity, _, _ = dit(inputs, s, segments)  # (B, clean + N, h, w, C)
    error = velocity[:, clean_count:] - (x1 - x0_noisy)  # (B, N, h, w, C)
    loss = jnp.square(error).mean()
    return loss, {"flow_mse": loss, "window": window, "anchor_on": anchor_on}
