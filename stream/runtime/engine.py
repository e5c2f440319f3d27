"""The engine: one loaded model, its compiled programs, and the batcher every session shares.

A session's state is explicit (timeline.py) and the programs that advance it are written for
one session; the engine compiles each one vmapped over its fixed number of slots, so the
sessions that call at the same moment, with any settings, run as one compiled call per tick
(batcher.py). Shapes are fixed for the whole stream, so each program compiles once and
serves minute 10 as it served second 1.

Slots pay off where one session leaves the device idle (GPU, TPU); on a CPU one session's decoder
already keeps every core busy, so the default is one slot (docs/experiments/2026-11-29-bench.md,
"Batching", has the table).

What a server needs of it is StreamEngine (stream/api.py); the stages one by one, for
measurement, are the lab's (stream/lab/stages.py).
"""

from __future__ import annotations

import copy
import os
import pathlib
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.config import SMALL, EngineConfig
from stream.model.dit import DiT
from stream.model.vae import TEMPORAL_FACTOR, CausalVAE
from stream.runtime.anchor import DEFAULT_ANCHOR, check_anchor_mode
from stream.runtime.batcher import Batcher
from stream.runtime.checkpoint import build_models, is_checkpoint, load_model
from stream.runtime.chunk import SessionSettings, session_settings
from stream.runtime.session import Session
from stream.runtime.timeline import Chunk, Timeline, commit_latent, generate, new_timeline, push

DEFAULT_CHECKPOINT = pathlib.Path(__file__).parents[1] / "assets" / "default_model"
RANDOM_INIT_NAME = "random-init (seed 0, SMALL preset): extends video with noise until trained"
DEFAULT_SLOTS = 1
# A viewer waits on these; the batcher serves them before taking in real frames (batcher.py).
URGENT_PROGRAMS = frozenset({"generate"})


def default_workers() -> int:
    """Ticks in flight at once: one per core on a CPU, where XLA runs a program on about one
    core; two on an accelerator, so one tick's host work overlaps the next one's compute."""
    return max(1, os.cpu_count() or 1) if jax.default_backend() == "cpu" else 2


def _over_slots(program: Callable) -> Callable:
    """program(dit_params, vae_params, *args) for one session -> a compiled call taking a tuple of
    argument tuples (one per slot) and returning a tuple of results: stacking and unstacking the
    slots happen inside the program, so a tick is one call with no host work between slots."""

    def run(dit_params: Any, vae_params: Any, slots: tuple[tuple[Any, ...], ...]) -> tuple:
        stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *slots)  # (slots, ...) leaves
        results = jax.vmap(lambda args: program(dit_params, vae_params, *args))(stacked)
        return tuple(jax.tree.map(lambda leaf, i=i: leaf[i], results) for i in range(len(slots)))

    return jax.jit(run)


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        vae: CausalVAE,
        dit: DiT,
        info: dict[str, Any] | None = None,
        slots: int = DEFAULT_SLOTS,
        workers: int | None = None,
    ):
        self.config = config
        self.info = dict(info or {})
        self.name: str = self.info.get("name", RANDOM_INIT_NAME)
        vae_def, self.vae_params = nnx.split(vae)
        dit_def, self.dit_params = nnx.split(dit)
        self.vae_def, self.dit_def = vae_def, dit_def
        self.vae = vae  # its state initialisers: shapes only, no parameters are read

        def models(program: Callable) -> Callable:
            def bound(dit_params: Any, vae_params: Any, *args: Any) -> Any:
                dit, vae = nnx.merge(dit_def, dit_params), nnx.merge(vae_def, vae_params)
                return program(dit, vae, config, *args)

            return bound

        pushing = _over_slots(models(push))
        self._programs = {
            # Apart, so the batcher never stacks the first frame alone with groups of 4.
            "push_first": pushing,
            "push": pushing,
            "generate": _over_slots(models(generate)),
            "commit_latent": _over_slots(models(commit_latent)),
        }
        self.batcher = self._new_batcher(slots, workers or default_workers())

    @classmethod
    def load(
        cls,
        path: str | pathlib.Path | None = None,
        slots: int = DEFAULT_SLOTS,
        workers: int | None = None,
    ) -> Engine:
        """Load a checkpoint folder; None loads the default model shipped with the package, or,
        while none is shipped, a randomly initialised model of the SMALL preset (seed 0).
        slots: sessions one compiled call serves at once; workers: calls in flight at once
        (default: default_workers())."""
        if path is None:
            if not is_checkpoint(DEFAULT_CHECKPOINT):
                vae, dit = build_models(SMALL, seed=0)
                return cls(SMALL, vae, dit, {"name": RANDOM_INIT_NAME}, slots, workers)
            path = DEFAULT_CHECKPOINT
        config, vae, dit, info = load_model(path)
        info.setdefault("name", pathlib.Path(path).name)
        return cls(config, vae, dit, info, slots, workers)

    def open(
        self,
        anchor: str = DEFAULT_ANCHOR,
        seed: int = 0,
        steps: int | None = None,
        window: int | None = None,
        guidance: float | None = None,
    ) -> Session:
        """Start a session. anchor: none | attention | guidance | both; steps: Euler steps per
        chunk (default from the config); window: latent frames of rolling context, 1..the
        config's window_frames; guidance: lambda of the guidance anchor."""
        check_anchor_mode(anchor)
        return Session(
            self, anchor=anchor, seed=seed, steps=steps, window=window, guidance=guidance
        )

    def with_dit_params(self, params: Any) -> Engine:
        """The same model and compiled programs with other DiT parameters of the same shapes (a
        training run's eval): nothing is traced or compiled again."""
        engine = copy.copy(self)
        engine.dit_params = params
        engine.batcher = engine._new_batcher(self.batcher.slots, self.batcher.workers)
        return engine

    def _new_batcher(self, slots: int, workers: int) -> Batcher:
        return Batcher(self.run_slots, slots, workers, first=URGENT_PROGRAMS)

    def warm_up(self) -> None:
        """Compile every program a session runs (a server does this before it reports SERVING).
        Compiling them side by side was measured no faster on 2 cores (15-17 s either way)."""
        config, size = self.config, self.config.image_size
        settings = session_settings(
            config.dit.window_frames, True, 0.0, 0, config.sampler.steps, config.sampler
        )
        encoder, timeline = self.new_encoder_state(), self.new_timeline()
        frames = np.zeros((1, TEMPORAL_FACTOR, size, size, 3), np.uint8)
        calls = {
            "push_first": (encoder, timeline, frames[:, :1], settings),
            "push": (encoder, timeline, frames, settings),
            "generate": (timeline, settings),
        }
        for name, args in calls.items():
            self.run_slots(name, [args] * self.batcher.slots)

    # The programs, batched with every other session calling at the same time.

    def run_slots(self, program: Hashable, slots: Sequence[tuple[Any, ...]]) -> Sequence[Any]:
        """One compiled call of a program ("push_first", "push", "generate", "commit_latent")
        over the slots' arguments, in order: what the batcher runs each tick. It waits for the
        results: with JAX's asynchronous dispatch every session's call would otherwise be in
        XLA's queue at once, sharing the cores in dispatch order, and the batcher's order
        (batcher.py) would decide nothing."""
        return jax.block_until_ready(
            self._programs[program](self.dit_params, self.vae_params, tuple(slots))
        )

    def new_timeline(self) -> Timeline:
        return new_timeline(self.config, self.vae)

    def new_encoder_state(self) -> Any:
        size = self.config.image_size
        return self.vae.init_encoder_state(1, size, size)

    def push(
        self, encoder: Any, timeline: Timeline, frames: np.ndarray, settings: SessionSettings
    ) -> tuple[jax.Array, Any, Timeline]:
        """Real uint8 frames (1, G, S, S, 3), G = 1 for the first group and 4 after -> the latent
        frame (1, 1, h, w, C), the encoder state and the timeline after them."""
        program = "push_first" if frames.shape[1] == 1 else "push"
        return self.batcher.call(program, encoder, timeline, frames, settings)

    def generate(self, timeline: Timeline, settings: SessionSettings) -> tuple[Chunk, Timeline]:
        """The timeline's next chunk (denoised, committed, decoded) and the timeline after it."""
        return self.batcher.call("generate", timeline, settings)

    def commit_latent(
        self, timeline: Timeline, latent: jax.Array, settings: SessionSettings
    ) -> Timeline:
        """The timeline after a known clean latent frame (1, 1, h, w, C), without pixels."""
        return self.batcher.call("commit_latent", timeline, latent, settings)[1]
