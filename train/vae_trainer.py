"""The VAE's task: reconstruct clips of worlds and real video (frame 0 alone, then groups of 4)."""

from __future__ import annotations

import functools
from pathlib import Path

import jax.numpy as jnp
from flax import nnx

from stream.media.clips import video_clips, world_clips
from stream.media.pixels import to_unit
from stream.model.vae import CausalVAE
from stream.runtime.checkpoint import build_models
from train.config import VAETraining
from train.data import ClipSampler, Prefetcher, clip_batch, load_clips, video_files
from train.loop import Task
from train.objectives import vae_loss, vae_reconstruction_metrics

EVAL_FRAMES = 17  # 1 + 4 * 4: the first frame alone and four groups, most in steady state


def vae_task(config: VAETraining, video_dir: Path) -> Task:
    run, engine = config.run, config.run.engine
    vae, _ = build_models(engine, seed=run.seed)
    have_videos = video_dir.is_dir()
    train_on_videos = have_videos and run.data.real_ratio > 0
    clips = (
        load_clips(video_files(video_dir, held_out=False), engine.image_size)
        if train_on_videos
        else []
    )
    sampler = ClipSampler(engine.image_size, run.data.real_ratio, clips)
    make = functools.partial(
        clip_batch, sampler, run.seed, batch=run.batch, count=config.objective.frames
    )
    prefetcher = Prefetcher(make, run.data.threads, run.data.prefetch)
    eval_sets = {"worlds": world_clips(engine.image_size, EVAL_FRAMES, 6, start=40)}
    # A training folder of other clips (a --video-dir) need not hold the held-out ones.
    held_out = [p.name for p in video_files(video_dir, held_out=True)] if have_videos else []
    if held_out:
        eval_sets["held_out"] = video_clips(video_dir, held_out, engine.image_size, EVAL_FRAMES)
    eval_sets = {name: jnp.asarray(to_unit(clips)) for name, clips in eval_sets.items()}
    scores = nnx.jit(vae_reconstruction_metrics)

    def batch(step: int):
        return None, prefetcher.get(step)

    def loss(model: CausalVAE, frames, key, _variant):
        return vae_loss(model, frames, key, config.objective)

    def evaluate(model: CausalVAE) -> dict[str, float]:
        return {
            f"{name}_{metric}": float(value)
            for name, clips in eval_sets.items()
            for metric, value in scores(model, clips).items()
        }

    frozen = ("encoder",) if config.freeze_encoder else ()
    return Task("vae", vae, loss, batch, evaluate, close=prefetcher.close, frozen=frozen)
