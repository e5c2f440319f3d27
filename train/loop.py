"""The training loop both models share: AdamW with warm-up + cosine and clipping, a data-parallel
jitted step, progress bar, metrics.jsonl, periodic evaluation, checkpoints and resume."""

from __future__ import annotations

import dataclasses
import pathlib
import signal
import time
from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh
from tqdm import tqdm

from stream.runtime.checkpoint import is_checkpoint, load_model
from train.checkpointing import RunDirectory, folder_training
from train.config import OptimConfig, RunConfig
from train.sharding import check_batch, put_batch, put_replicated, replicated

# loss(model, batch, key, variant) -> (scalar loss, metrics); variant is a static (hashable)
# choice of the batch, e.g. a sequence layout, compiled once per value.
LossFn = Callable[[nnx.Module, Any, jax.Array, Hashable], tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass
class Task:
    """What a trainer hands the loop."""

    name: str
    model: nnx.Module  # the trained module (initial parameters)
    loss: LossFn
    batch: Callable[[int], tuple[Hashable, Any]]  # step -> (variant, host arrays)
    evaluate: Callable[[nnx.Module], dict[str, float]]
    close: Callable[[], None] = lambda: None
    frozen: tuple[str, ...] = ()  # the model's submodules (attribute names) left untrained


def make_optimizer(
    optim: OptimConfig, steps: int, frozen: tuple[str, ...] = ()
) -> tuple[optax.GradientTransformation, Any]:
    """AdamW with warm-up + cosine and clipping; parameters under the top-level submodules named
    in `frozen` get no update at all (not even weight decay)."""
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=optim.learning_rate,
        warmup_steps=min(optim.warmup_steps, max(1, steps - 1)),
        decay_steps=max(steps, 2),
        end_value=optim.learning_rate * optim.final_lr_fraction,
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(optim.clip_norm),
        optax.adamw(schedule, weight_decay=optim.weight_decay),
    )
    if frozen:

        def labels(params: dict[str, Any]) -> dict[str, Any]:
            return {
                name: _labelled(sub, "frozen" if name in frozen else "trained")
                for name, sub in params.items()
            }

        optimizer = optax.multi_transform(
            {"trained": optimizer, "frozen": optax.set_to_zero()}, labels
        )
    return optimizer, schedule


def _labelled(tree: Any, label: str) -> Any:
    return jax.tree.map(lambda _: label, tree)


def initial_state(model: nnx.Module, optimizer: optax.GradientTransformation) -> dict[str, Any]:
    # A copy: the jitted step donates the state, which must not delete the module's arrays.
    params = jax.tree.map(jnp.copy, nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    return {
        "params": params,
        "opt": optimizer.init(params),
        "step": jnp.zeros((), jnp.int32),
        "wall_time": jnp.zeros((), jnp.float32),  # seconds of training, summed over resumes
    }


def make_train_step(
    model: nnx.Module, loss: LossFn, optimizer: optax.GradientTransformation, schedule, mesh: Mesh
):
    """step(state, batch, key, variant) -> (state, metrics), replicated state, sharded batch."""
    graphdef, _, rest = nnx.split(model, nnx.Param, ...)

    def step(state, batch, key, variant):
        def objective(params):
            return loss(nnx.merge(graphdef, params, rest), batch, key, variant)

        (value, metrics), grads = jax.value_and_grad(objective, has_aux=True)(state["params"])
        updates, opt = optimizer.update(grads, state["opt"], state["params"])
        metrics = {
            **metrics,
            "loss": value,
            "grad_norm": optax.global_norm(grads),
            "lr": schedule(state["step"]),
        }
        new_state = {
            "params": optax.apply_updates(state["params"], updates),
            "opt": opt,
            "step": state["step"] + 1,
            "wall_time": state["wall_time"],
        }
        return new_state, metrics

    jitted = jax.jit(
        step,
        static_argnums=3,
        out_shardings=(replicated(mesh), replicated(mesh)),
        donate_argnums=0,
    )

    def run(state, batch, key, variant):
        return jitted(state, put_batch(batch, mesh), put_replicated(key, mesh), variant)

    return run


def trained_model(model: nnx.Module, params: Any) -> nnx.Module:
    graphdef, _, rest = nnx.split(model, nnx.Param, ...)
    return nnx.merge(graphdef, params, rest)


def _initial_params(run_dir: str, like: Any, kind: str) -> Any:
    """The parameters init_from names: a run directory's latest, or a model folder's (a shipped
    model), checked against the shapes of `like`."""
    if is_checkpoint(run_dir):
        _, vae, dit, _ = load_model(run_dir)
        params = nnx.to_pure_dict(nnx.state(dit if kind == "dit" else vae, nnx.Param))
        shapes = jax.tree.map(lambda a, b: a.shape == b.shape, params, like)
        if not all(jax.tree.leaves(shapes)):
            raise ValueError(f"init_from: the {kind} of {run_dir!r} has other shapes")
        return params
    if not (pathlib.Path(run_dir) / "checkpoints").is_dir():
        raise ValueError(
            f"init_from: {run_dir!r} is neither a run directory with checkpoints nor a model folder"
        )
    source = RunDirectory(run_dir)
    try:
        return source.restore_params(like)[0]
    except ValueError as error:
        raise ValueError(f"init_from: {run_dir!r} holds a different model: {error}") from error
    finally:
        source.close()


def _to_floats(metrics: dict[str, jax.Array]) -> dict[str, float]:
    return {k: float(np.asarray(v)) for k, v in metrics.items()}


def train(task: Task, run: RunConfig, directory: RunDirectory, mesh: Mesh) -> dict[str, Any]:
    """Train to run.steps from the latest checkpoint in `directory` (or from scratch); returns
    the final state. SIGTERM and Ctrl-C save a checkpoint before stopping."""
    check_batch(run.batch, mesh)
    optimizer, schedule = make_optimizer(run.optim, run.steps, task.frozen)
    state = initial_state(task.model, optimizer)
    if directory.latest_step() is not None:
        state = directory.restore(state)
    elif run.init_from:
        state = {**state, "params": _initial_params(run.init_from, state["params"], task.name)}
        if is_checkpoint(run.init_from):
            directory.record_origin(*folder_training(run.init_from, task.name))
    state = put_replicated(state, mesh)
    train_step = make_train_step(task.model, task.loss, optimizer, schedule, mesh)
    base_key = jax.random.key(run.seed)
    start = int(state["step"])
    last_save, last_step_time = time.monotonic(), time.monotonic()
    wall = float(state["wall_time"])
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    bar = tqdm(total=run.steps, initial=start, desc=task.name, unit="step", mininterval=2)

    def checkpoint():
        nonlocal last_save, state
        if directory.latest_step() == int(state["step"]):
            return
        state = {**state, "wall_time": jnp.asarray(wall, jnp.float32)}
        directory.save(int(state["step"]), state)
        last_save = time.monotonic()

    try:
        for step in range(start, run.steps):
            variant, batch = task.batch(step)
            state, metrics = train_step(state, batch, jax.random.fold_in(base_key, step), variant)
            metrics = _to_floats(metrics)
            now = time.monotonic()
            wall += now - last_step_time
            last_step_time = now
            directory.log({"step": step + 1, "wall_time_s": round(wall, 2), **metrics})
            bar.update(1)
            bar.set_postfix(loss=f"{metrics['loss']:.4f}", refresh=False)
            done = step + 1
            if done % run.eval_every == 0 or done == run.steps:
                scores = task.evaluate(trained_model(task.model, state["params"]))
                directory.log({"step": done, **{f"eval/{k}": v for k, v in scores.items()}})
                bar.write(f"step {done}: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()))
                last_step_time = time.monotonic()  # evaluation is not training time
            minutes = (time.monotonic() - last_save) / 60
            if done % run.checkpoint_every == 0 or minutes > run.checkpoint_minutes:
                checkpoint()
        checkpoint()
    except KeyboardInterrupt:
        bar.write("interrupted: saving a checkpoint")
        checkpoint()
    finally:
        signal.signal(signal.SIGTERM, previous)
        bar.close()
        task.close()
        directory.wait()
    return state
