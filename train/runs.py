"""Reading a run directory from outside the loop: its config and its latest parameters."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
from flax import nnx

from stream.runtime.checkpoint import build_models, is_checkpoint
from train.checkpointing import RunDirectory, folder_training
from train.config import DiTTraining, VAETraining, from_dict

KINDS: dict[str, type] = {"vae": VAETraining, "dit": DiTTraining}


def read_config(path: str | pathlib.Path, kind: str) -> Any:
    directory = RunDirectory(path)
    return from_dict(KINDS[kind], json.loads(directory.config_file.read_text()))


def latest_state(path: str | pathlib.Path, kind: str) -> tuple[Any, dict[str, Any]]:
    """(training config, state) of a run's latest checkpoint; the state holds "params" (a pure
    dict), "step", "wall_time" and "origin" (RunDirectory.origin)."""
    directory = RunDirectory(path)
    if directory.latest_step() is None:
        raise ValueError(f"run directory {str(path)!r} has no checkpoint yet")
    config = read_config(path, kind)
    model = build_models(config.run.engine)[0 if kind == "vae" else 1]
    like = jax.eval_shape(lambda: nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    params, step, seconds = directory.restore_params(like)
    directory.close()
    state = {"params": params, "step": step, "wall_time": seconds, "origin": directory.origin()}
    return config, state


def total_training(config: Any, state: dict[str, Any], kind: str) -> tuple[int, float]:
    """(steps, training seconds) of a run's latest checkpoint, as latest_state returned it, plus
    those of every run it was started from with init_from, so a fine-tuned model states all the
    training behind it."""
    steps, seconds = int(state["step"]), float(state["wall_time"])
    if state.get("origin") is not None:
        earlier_steps, earlier_seconds = state["origin"]
        steps, seconds = steps + earlier_steps, seconds + earlier_seconds
    elif is_checkpoint(config.run.init_from):
        # A run started before origins were recorded: the folder as it is now.
        earlier_steps, earlier_seconds = folder_training(config.run.init_from, kind)
        steps, seconds = steps + earlier_steps, seconds + earlier_seconds
    elif config.run.init_from:
        earlier = latest_state(config.run.init_from, kind)
        earlier_steps, earlier_seconds = total_training(*earlier, kind)
        steps, seconds = steps + earlier_steps, seconds + earlier_seconds
    return steps, seconds
