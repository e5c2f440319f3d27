"""Training objectives: the VAE's reconstruction + KL, and the DiT's diffusion-forcing flow loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from stream.config import EngineConfig
from stream.metrics import psnr, ssim
from stream.model.dit import DiT
from stream.model.layout import SequenceLayout, sequence_segments
from stream.model.vae import CausalVAE, kl, sample_latent
from stream.runtime.sampler import euler_update, shrink_change, time_schedule
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
    # Beside the split, so that runs without them keep their draws.
    k_own, k_rollout, k_rollout_pick = (jax.random.fold_in(key, i) for i in (7, 8, 9))

    s_block = block_noise_levels(
        k_block, (b, blocks), objective.logit_normal_scale, engine.sampler.shift
    )  # (B, blocks)
    s_noisy = s_block[:, block_of]  # (B, N)
    s_ctx = jax.random.uniform(k_ctx, (b, clean_count), maxval=objective.context_noise)
    s_ctx = s_ctx.at[:, 0].set(0.0)  # the anchor is always exact, as at inference
    x1 = jax.random.normal(k_eps, (b, len(noisy_time), *latents.shape[2:]))  # (B, N, h, w, C)
    ctx_eps = jax.random.normal(k_ctx_eps, latents[:, :clean_count].shape)
    s = jnp.concatenate([s_ctx, s_noisy], axis=1)  # (B, clean + N)
    max_window = dit_config.window_frames
    window = jnp.where(
        jax.random.uniform(k_full) < objective.full_window,
        max_window,
        jax.random.randint(k_window, (), 1, max_window + 1),
    )
    anchor_on = jax.random.uniform(k_anchor) >= objective.anchor_drop
    segments = sequence_segments(dit_config, layout, window, anchor_on)
    residual = dit_config.flow_space == "residual"

    def flow(context: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Velocity of the noisy copies with `context` (B, clean, h, w, C) as the clean frames,
        the flow's target x0 (B, N, h, w, C), and the origin it is relative to."""
        # A residual flow generates x0 - origin, the origin being the context frame before each
        # block (as the engine holds it); the truth stays the true frames.
        origin = context[:, noisy_start - 1] if residual else jnp.zeros_like(x1)
        x0 = latents[:, noisy_time] - origin  # (B, N, h, w, C)
        inputs = jnp.concatenate(
            [_noised(context, ctx_eps, s_ctx), _noised(x0, x1, s_noisy)], axis=1
        )  # (B, clean + N, h, w, C)
        velocity, _, _ = dit(inputs, s, segments)  # (B, clean + N, h, w, C)
        return velocity[:, clean_count:], x0, origin

    def rolled_out(context: jax.Array) -> jax.Array:
        """The context (B, clean, h, w, C) as generation leaves it: every frame that has a noisy
        copy replaced by what the sampler makes of its block, from pure noise, conditioned on
        the blocks generated before it (the true frames before the first block stay). All blocks
        are generated in one pass over the sequence, so the pass is repeated once per block:
        pass k fixes block k, since block k reads only frames before it (a Jacobi iteration
        that ends exactly where the block-by-block rollout does)."""
        times = time_schedule(engine.sampler.steps, engine.sampler.shift)
        z0 = context[:, :1]  # (B, 1, h, w, C)

        def generate(ctx: jax.Array, _) -> tuple[jax.Array, None]:
            last = ctx[:, noisy_start - 1]  # (B, N, h, w, C): the frame before each block
            origin = last if residual else jnp.zeros_like(last)
            clean = _noised(ctx, ctx_eps, s_ctx)  # (B, clean, h, w, C)
            x = x1_rollout
            for s_now, s_next in zip(times[:-1], times[1:], strict=True):
                s_all = jnp.concatenate([s_ctx, jnp.full_like(s_noisy, s_now)], axis=1)
                velocity, _, _ = dit(jnp.concatenate([clean, x], axis=1), s_all, segments)
                x = euler_update(x, velocity[:, clean_count:], s_now, s_next, z0, 0.0, origin)
            generated = shrink_change(origin + x, last, engine.sampler.change_scale)
            return ctx.at[:, noisy_time].set(generated), None

        ctx, _ = jax.lax.scan(generate, context, None, length=blocks)
        return jax.lax.stop_gradient(ctx)

    context = latents[:, :clean_count]  # (B, clean, h, w, C)
    if objective.rollout > 0:
        # Generation conditions on the chunks it generated itself, several in a row; teacher
        # forcing never shows them. For a share of the clips the context is such a rollout,
        # and the model learns to reach the true frames from there.
        x1_rollout = jax.random.normal(k_rollout, x1.shape)  # (B, N, h, w, C)
        chosen = jax.random.uniform(k_rollout_pick, (b, 1, 1, 1, 1)) < objective.rollout
        context = jnp.where(chosen, rolled_out(context), context)
    velocity, x0, origin = flow(context)
    if objective.own_context > 0:
        # Generation conditions on the model's own frames, errors included; teacher forcing
        # never shows them. So for a share of the clips, every context frame that has a noisy
        # copy is replaced by the model's own clean estimate of it, and the model learns to
        # reach the true frames from there.
        s_n = s_noisy[..., None, None, None]  # (B, N, 1, 1, 1)
        estimate = jax.lax.stop_gradient(origin + _noised(x0, x1, s_noisy) - s_n * velocity)
        own = jax.random.uniform(k_own, (b, 1, 1, 1, 1)) < objective.own_context  # (B, 1, ...)
        replaced = context.at[:, noisy_time].set(estimate)  # (B, clean, h, w, C)
        velocity, x0, _ = flow(jnp.where(own, replaced, context))
    error = velocity - (x1 - x0)  # (B, N, h, w, C)
    loss = jnp.square(error).mean()
    return loss, {"flow_mse": loss, "window": window, "anchor_on": anchor_on}
