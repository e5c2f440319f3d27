"""A run directory: the training config as JSON, metrics.jsonl, and Orbax checkpoints of the
training state (model parameters, optimiser state, step). Batches are pure functions of
(seed, step), so the step is the whole data position."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
# The training behind a model folder a run started from, as it was when the run started: the
# folder may later be overwritten by the very model the run produced.
ORIGIN_FILE = "init_from_training.json"


def folder_training(folder: str | pathlib.Path, kind: str) -> tuple[int, float]:
    """(steps, training seconds) a model folder's info.json states for its "vae" or "dit"."""
    info = json.loads((pathlib.Path(folder) / "info.json").read_text())
    return int(info.get("steps", {}).get(kind, 0)), float(
        info.get("wall_time_s", {}).get(kind, 0.0)
    )


class RunDirectory:
    def __init__(self, path: str | pathlib.Path, keep: int = 3):
        self.path = pathlib.Path(path).absolute()
        self.path.mkdir(parents=True, exist_ok=True)
        self._manager = ocp.CheckpointManager(
            self.path / "checkpoints",
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    @property
    def config_file(self) -> pathlib.Path:
        return self.path / CONFIG_FILE

    def record_origin(self, steps: int, seconds: float) -> None:
        """Note the steps and training seconds of the model folder this run starts from."""
        (self.path / ORIGIN_FILE).write_text(json.dumps({"steps": steps, "wall_time_s": seconds}))

    def origin(self) -> tuple[int, float] | None:
        """(steps, training seconds) recorded by record_origin, None if the run never did."""
        path = self.path / ORIGIN_FILE
        if not path.exists():
            return None
        recorded = json.loads(path.read_text())
        return int(recorded["steps"]), float(recorded["wall_time_s"])

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any) -> None:
        """Asynchronous: training continues while the previous save finishes writing."""
        self._manager.save(step, args=ocp.args.StandardSave(state))

    def restore(self, like: Any, step: int | None = None) -> Any:
        step = self.latest_step() if step is None else step
        return self._manager.restore(step, args=ocp.args.StandardRestore(like))

    def restore_params(self, like: Any, step: int | None = None) -> tuple[Any, int, float]:
        """(parameters shaped like `like`, step, training seconds) of a checkpoint, whatever
        optimiser state the run saved beside them."""
        step = self.latest_step() if step is None else step
        saved = self._manager.restore(step, args=ocp.args.StandardRestore())

        def pick(path: tuple, leaf: Any) -> Any:
            node = saved["params"]
            for key in path:  # saved without a target, every dict key comes back as a string
                node = node[str(key.key)]
            if node.shape != leaf.shape:
                raise ValueError(
                    f"parameter {jax.tree_util.keystr(path)} has shape {node.shape}, "
                    f"expected {leaf.shape}"
                )
            return jnp.asarray(node)

        try:
            params = jax.tree_util.tree_map_with_path(pick, like)
        except KeyError as error:
            raise ValueError(f"checkpoint {step} has no parameter {error}") from error
        return params, int(saved["step"]), float(saved["wall_time"])

    def log(self, record: dict[str, Any]) -> None:
        with open(self.path / METRICS_FILE, "a") as f:
            f.write(json.dumps({"time": time.time(), **record}) + "\n")

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
