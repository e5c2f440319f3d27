"""Ship a model: the DiT run's frozen VAE and latest DiT as a model folder (config.json,
info.json with the model card's metrics, Orbax parameters), loadable by Engine.load(path)."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import jax
import numpy as np
from flax import nnx

from stream.lab.evaluation import run_eval
from stream.media.clips import HELD_OUT
from stream.model.vae import CausalVAE
from stream.runtime.checkpoint import build_models, load_model, save_model
from stream.runtime.engine import Engine
from train.dit_trainer import FROZEN_VAE
from train.runs import latest_state, total_training


def swap_decoder(vae: CausalVAE, vae_run: str | pathlib.Path) -> tuple[int, float]:
    """Load the decoder of a VAE run trained with a frozen copy of `vae`'s encoder; returns the
    run's total steps and training seconds (with the runs it was started from)."""
    config, state = latest_state(vae_run, "vae")
    if config.run.engine.vae != dataclasses.replace(vae.config, latent_scale=1.0):
        raise ValueError(f"vae_decoder: {vae_run} is a different VAE than the DiT run's")
    ours = nnx.to_pure_dict(nnx.state(vae.encoder, nnx.Param))
    same = jax.tree.map(np.array_equal, ours, state["params"]["encoder"])
    if not all(jax.tree.leaves(same)):
        raise ValueError(
            f"vae_decoder: the encoder of {vae_run} differs from the DiT run's frozen VAE: train "
            "the decoder with --init-from <that VAE run> --freeze-encoder"
        )
    nnx.update(vae.decoder, state["params"]["decoder"])
    return total_training(config, state, "vae")


def export(
    dit_run: str | pathlib.Path,
    out: str | pathlib.Path,
    name: str | None,
    evaluate: bool,
    vae_decoder: str | pathlib.Path | None = None,
    sampler: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a model folder from a DiT run; `vae_decoder` names a VAE run whose decoder, trained
    against the frozen VAE's encoder, replaces the frozen one; `sampler` overrides the run's
    sampler settings (inference choices, made after training on clips it did not see)."""
    config, state = latest_state(dit_run, "dit")
    # The frozen VAE's config carries the latent_scale measured when the DiT run began.
    vae_engine, vae, _, vae_info = load_model(pathlib.Path(dit_run) / FROZEN_VAE)
    if vae_decoder:
        vae_steps, vae_seconds = swap_decoder(vae, vae_decoder)
        vae_info = {**vae_info, "steps": vae_steps, "wall_time_s": vae_seconds}
    engine_config = dataclasses.replace(
        config.run.engine,
        vae=vae_engine.vae,
        sampler=dataclasses.replace(config.run.engine.sampler, **(sampler or {})),
    )
    dit = build_models(engine_config)[1]
    nnx.update(dit, state["params"])
    dit_steps, dit_seconds = total_training(config, state, "dit")
    info = {
        "name": name or f"stream-64px vae{vae_info.get('steps')}-dit{dit_steps}",
        "steps": {"vae": vae_info.get("steps"), "dit": dit_steps},
        "wall_time_s": {"vae": vae_info.get("wall_time_s"), "dit": dit_seconds},
        "data": (
            f"worlds (sprites, drift, orbits; seeds < 2^30) and real clips, "
            f"real fraction {config.run.data.real_ratio} for the DiT"
        ),
        "held_out": list(HELD_OUT),
        "metrics": {},
    }
    path = save_model(out, engine_config, vae, dit, info)
    if evaluate:
        info["metrics"] = run_eval(Engine.load(path))
        (path / "info.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    return info
