"""Ablations: the same weights under other fixed sampler settings."""

from __future__ import annotations

import dataclasses
from typing import Any

from flax import nnx

from stream.runtime.engine import Engine


def with_sampler(engine: Engine, **changes: Any) -> Engine:
    """The same weights under other sampler settings, e.g. context_noise=0.0 (an ablation): a new
    engine, compiled anew."""
    sampler = dataclasses.replace(engine.config.sampler, **changes)
    config = dataclasses.replace(engine.config, sampler=sampler)
    dit = nnx.merge(engine.dit_def, engine.dit_params)
    batcher = engine.batcher
    return Engine(config, engine.vae, dit, engine.info, batcher.slots, batcher.workers)
