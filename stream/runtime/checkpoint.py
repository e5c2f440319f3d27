"""A model checkpoint is a folder: config.json (EngineConfig), info.json (name, provenance,
metrics) and the VAE's and DiT's parameters as Orbax checkpoints."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from stream.config import EngineConfig
from stream.model.dit import DiT
from stream.model.vae import CausalVAE


def build_models(config: EngineConfig, seed: int = 0) -> tuple[CausalVAE, DiT]:
    """Freshly initialised models. Initialisation runs as one compiled program with the RBG
    generator: op by op, every distinct parameter shape compiled its own threefry kernel (tens
    of seconds on our CPUs for the VAE alone)."""

    @nnx.jit
    def create() -> tuple[CausalVAE, DiT]:
        rngs = nnx.Rngs(jax.random.key(seed, impl="rbg"))
        return CausalVAE(config.vae, rngs=rngs), DiT(config.dit, rngs=rngs)

    return create()


def save_model(
    path: str | pathlib.Path,
    config: EngineConfig,
    vae: CausalVAE,
    dit: DiT,
    info: dict[str, Any] | None = None,
) -> pathlib.Path:
    path = pathlib.Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(config.to_json())
    (path / "info.json").write_text(json.dumps(info or {}, indent=2, sort_keys=True))
    checkpointer = ocp.StandardCheckpointer()
    for name, module in (("vae", vae), ("dit", dit)):
        checkpointer.save(path / name, nnx.to_pure_dict(nnx.state(module, nnx.Param)), force=True)
    checkpointer.wait_until_finished()
    return path


def is_checkpoint(path: str | pathlib.Path) -> bool:
    path = pathlib.Path(path)
    return all((path / part).exists() for part in ("config.json", "vae", "dit"))


def load_model(path: str | pathlib.Path) -> tuple[EngineConfig, CausalVAE, DiT, dict[str, Any]]:
    path = pathlib.Path(path).absolute()
    if not is_checkpoint(path):
        raise ValueError(
            f"checkpoint={str(path)!r} is not a model checkpoint: expected a folder with "
            "config.json, vae/ and dit/ (as written by stream.runtime.checkpoint.save_model)"
        )
    config = EngineConfig.from_json((path / "config.json").read_text())
    info_file = path / "info.json"
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    vae, dit = nnx.eval_shape(lambda: build_models(config))
    checkpointer = ocp.StandardCheckpointer()
    for name, module in (("vae", vae), ("dit", dit)):
        params = nnx.state(module, nnx.Param)
        restored = checkpointer.restore(path / name, nnx.to_pure_dict(params))
        nnx.replace_by_pure_dict(params, restored)
        nnx.update(module, params)
    return config, vae, dit, info
