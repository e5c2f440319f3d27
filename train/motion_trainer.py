"""The motion predictor's task: continue clips of photo worlds and real video by warping."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.media.clips import default_video_dirs
from stream.media.pixels import to_unit
from stream.metrics import psnr
from stream.model.motion_net import MotionNet, rollout
from train.checkpointing import RunDirectory
from train.config import MotionTraining, from_dict
from train.data import Prefetcher, load_clips, video_files
from train.loop import Task
from train.motion_data import MotionSampler, eval_photo_worlds, motion_batch
from train.motion_objective import motion_loss

EVAL_STEPS = 8  # frames predicted per validation world: one chunk of the shipped model


def motion_task(config: MotionTraining, video_dirs: tuple[Path, ...] | None = None) -> Task:
    run, objective = config.run, config.objective
    size = run.engine.image_size
    model = MotionNet(config.motion, rngs=nnx.Rngs(run.seed))
    files = [
        path
        for folder in (video_dirs or default_video_dirs())
        if folder.is_dir()
        for path in video_files(folder, held_out=False)
    ]
    clips = load_clips(files, size) if run.data.real_ratio > 0 else []
    sampler = MotionSampler(size, run.data.real_ratio, clips)
    make = functools.partial(
        motion_batch, sampler, run.seed, batch=run.batch, count=2 + objective.rollout_steps
    )
    prefetcher = Prefetcher(make, run.data.threads, run.data.prefetch)

    worlds = eval_photo_worlds(size, 6)
    frames = jnp.asarray(to_unit(np.stack([w.frames(40, 2 + EVAL_STEPS) for w in worlds])))
    flows = jnp.asarray(
        np.stack(
            [[w.flow_between(40 + j, 39 + j) for j in range(2, 2 + EVAL_STEPS)] for w in worlds]
        )
    )  # (N, EVAL_STEPS, S, S, 2)

    @nnx.jit
    def scores(model: MotionNet) -> dict[str, jnp.ndarray]:
        predicted, predicted_flows = rollout(model, frames[:, 0], frames[:, 1], EVAL_STEPS)
        truth = frames[:, 2:]
        repeat = jnp.broadcast_to(frames[:, 1:2], truth.shape)
        error = jnp.linalg.norm(predicted_flows - flows, axis=-1).mean()
        size_of_truth = jnp.linalg.norm(flows, axis=-1).mean()
        return {
            "worlds_psnr": psnr(predicted, truth),
            "worlds_repeat_psnr": psnr(repeat, truth),
            "worlds_flow_epe": error,
            "worlds_flow_epe_ratio": error / size_of_truth,
        }

    def batch(step: int):
        return None, prefetcher.get(step)

    def loss(model: MotionNet, batch, _key, _variant):
        return motion_loss(model, batch, objective)

    def evaluate(model: MotionNet) -> dict[str, float]:
        return {name: float(value) for name, value in scores(model).items()}

    return Task("motion", model, loss, batch, evaluate, close=prefetcher.close)


def load_motion_run(
    run_dir: str | Path, step: int | None = None
) -> tuple[MotionNet, MotionTraining, int]:
    """The motion predictor of a training run at `step` (default its latest): (model, the run's
    config, the step restored)."""
    directory = RunDirectory(run_dir)
    if directory.latest_step() is None:
        raise ValueError(f"{run_dir} holds no checkpoint of a motion run")
    config = from_dict(MotionTraining, json.loads(directory.config_file.read_text()))
    model = MotionNet(config.motion, rngs=nnx.Rngs(0))
    like = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    try:
        params, restored, _ = directory.restore_params(like, step)
    finally:
        directory.close()
    nnx.update(model, params)
    return model, config, restored
