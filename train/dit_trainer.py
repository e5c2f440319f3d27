"""The DiT's task: flow matching on latents of the frozen VAE, in teacher-forcing sequences
longer than the attention window, laid out and masked exactly as the cached path runs them.

Latents come from a pool: each group of `reuse` steps encodes `batch` clips of `POOL_LATENTS`
latent frames once (the costly part, in background threads) and every step of the group trains
on random crops of `sequence_latents` frames from them, with fresh noise. A crop's first latent
is replaced by its pixel frame encoded alone, because at inference z_0 is always the first
frame encoded alone; the latents after it hardly depend on where encoding started (the causal
convs see only a few frames back).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.lab.evaluation import quick_prediction_metrics
from stream.media.clips import HELD_OUT, world_clips
from stream.media.pixels import to_unit
from stream.model.dit import DiT
from stream.model.layout import teacher_forcing
from stream.model.vae import TEMPORAL_FACTOR, CausalVAE
from stream.runtime.checkpoint import build_models, is_checkpoint, load_model, save_model
from stream.runtime.engine import Engine
from train.checkpointing import RunDirectory
from train.config import DiTTraining
from train.data import ClipSampler, Prefetcher, clip_batch, load_clips, video_files
from train.loop import Task
from train.objectives import dit_loss
from train.runs import latest_state, total_training

FROZEN_VAE = "frozen_vae"  # model folder inside the DiT run: the VAE every step encodes with
POOL_SLACK = 4  # latent frames a pooled clip has beyond one training sequence
SCALE_CLIPS = 32  # clips whose latents set the frozen VAE's latent_scale
SCALE_BATCH = 1 << 40  # their batch index: far past any step, so they are not training batches


def latent_scale(vae: CausalVAE, pixels: np.ndarray) -> float:
    """The latent_scale that gives the latents of these clips (B, 1+4k, S, S, 3) unit std."""
    std = float(jnp.std(vae.encode(jnp.asarray(pixels))[0]))
    return vae.config.latent_scale / std


def frozen_vae(config: DiTTraining, directory: RunDirectory, sampler: ClipSampler) -> CausalVAE:
    """The run's frozen VAE: snapshotted into the run directory at the first start, so the run
    stays reproducible whatever later happens to the VAE run it came from. A VAE taken from a
    training run gets its latent_scale here, measured on the run's own data."""
    folder = directory.path / FROZEN_VAE
    engine = config.run.engine
    if not is_checkpoint(folder):
        source = pathlib.Path(config.vae)
        if is_checkpoint(source):
            engine, vae, _, source_info = load_model(source)
            # A model folder states the training of its VAE and DiT: the VAE's is what is frozen.
            provenance = {k: source_info.get(k, {}).get("vae") for k in ("steps", "wall_time_s")}
        else:
            vae_config, state = latest_state(source, "vae")
            if vae_config.run.engine.vae != dataclasses.replace(engine.vae, latent_scale=1.0):
                raise ValueError(f"the VAE of {source} does not match the DiT run's config")
            vae, _ = build_models(engine)
            nnx.update(vae, state["params"])
            steps, seconds = total_training(vae_config, state, "vae")
            provenance = {"steps": steps, "wall_time_s": seconds}
            clips = clip_batch(sampler, config.run.seed, SCALE_BATCH, SCALE_CLIPS, 9)
            scale = latent_scale(vae, clips)
            engine = dataclasses.replace(
                engine, vae=dataclasses.replace(engine.vae, latent_scale=scale)
            )
            scaled, _ = build_models(engine)
            nnx.update(scaled, nnx.state(vae, nnx.Param))
            vae = scaled
        info = {"name": f"frozen VAE of {source}", "source": str(source), **provenance}
        save_model(folder, engine, vae, build_models(engine)[1], info)
    _, vae, _, _ = load_model(folder)
    return vae


def sequence_variant(seed: int, step: int, chunk: int) -> int:
    """Where block boundaries fall (teacher_forcing's `first`), drawn per step: at inference they
    follow however many latent frames were pushed."""
    return 1 + int(np.random.default_rng([seed, step, 1 << 20]).integers(chunk))


def dit_task(config: DiTTraining, directory: RunDirectory, video_dir: Path) -> Task:
    run, objective, engine = config.run, config.objective, config.run.engine
    chunk = engine.dit.chunk_frames
    length = objective.sequence_latents
    blocks = (length - chunk) // chunk
    pool_latents = length + POOL_SLACK
    have_videos = video_dir.is_dir() and run.data.real_ratio > 0
    files = video_files(video_dir, held_out=False) if have_videos else []
    sampler = ClipSampler(
        engine.image_size, run.data.real_ratio, load_clips(files, engine.image_size)
    )
    vae = frozen_vae(config, directory, sampler)
    _, dit = build_models(engine, seed=run.seed)
    # jax.jit of a pure function, not nnx.jit of the module: data threads call it concurrently,
    # and nnx.jit updates the module object it is given in place.
    vae_def, vae_params = nnx.split(vae)
    encode_mean = jax.jit(lambda params, frames: nnx.merge(vae_def, params).encode(frames)[0])

    def encode(frames: np.ndarray) -> np.ndarray:
        """Pixel clips (B, 1+4k, S, S, 3) -> latent means (B, 1+k, h, w, C)."""
        return np.asarray(encode_mean(vae_params, jnp.asarray(frames)))

    pixel_frames = 1 + TEMPORAL_FACTOR * (pool_latents - 1)
    group_lock = threading.Lock()

    @functools.lru_cache(maxsize=4)
    def group(index: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel clips (B, T, S, S, 3) in [-1, 1] and their latents (B, P, h, w, C)."""
        pixels = clip_batch(sampler, run.seed, index, run.batch, pixel_frames)
        return pixels, encode(pixels)

    def make(step: int) -> np.ndarray:
        with group_lock:
            pixels, latents = group(step // objective.reuse)
        rng = np.random.default_rng([run.seed, step])
        starts = rng.integers(0, pool_latents - length + 1, run.batch)  # (B,)
        crops = np.stack([latents[i, s : s + length] for i, s in enumerate(starts)])
        anchors = pixels[np.arange(run.batch), TEMPORAL_FACTOR * starts][:, None]  # (B, 1, ...)
        crops[:, 0] = encode(anchors)[:, 0]
        return crops  # (B, L, h, w, C)

    prefetcher = Prefetcher(make, run.data.threads, run.data.prefetch)

    def batch(step: int):
        return sequence_variant(run.seed, step, chunk), prefetcher.get(step)

    # Built outside the traced step, so the layouts are constants it can read on the host.
    layouts = {
        first: teacher_forcing(first + chunk * blocks, chunk, first)
        for first in range(1, chunk + 1)
    }

    def loss(model: DiT, latents, key, first):
        layout = layouts[first]
        return dit_loss(model, latents[:, : first + chunk * blocks], layout, key, engine, objective)

    val_pixels = to_unit(world_clips(engine.image_size, 1 + TEMPORAL_FACTOR * (length - 1), 6))
    val_latents = jnp.asarray(encode(val_pixels))  # (6, L, h, w, C)
    val_key = jax.random.key(run.seed + 1)

    @nnx.jit
    def validation(model: DiT) -> jax.Array:
        return loss(model, val_latents, val_key, 1)[0]

    # Built once (with the frozen VAE's measured latent_scale), so evaluations reuse its
    # compiled stages and only swap the DiT's parameters in.
    info = {"name": "training eval", "held_out": list(HELD_OUT)}
    eval_engine = Engine(dataclasses.replace(engine, vae=vae.config), vae, dit, info)

    def evaluate(model: DiT) -> dict[str, float]:
        """The flow loss on unseen worlds, and the cheap prediction measures of `stream eval` on
        the held-out clips where `stream eval` finds them (PSNR next to both baselines, context
        dependence), as users would see them: a model can lower its loss and still lose to
        repeating the last frame."""
        metrics = {"worlds_flow_mse": float(validation(model))}
        trained = eval_engine.with_dit_params(nnx.state(model))
        metrics.update(quick_prediction_metrics(trained))
        return metrics

    return Task("dit", dit, loss, batch, evaluate, close=prefetcher.close)
