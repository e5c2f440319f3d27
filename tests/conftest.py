"""Shared fixtures: one tiny engine per test run, so every stage compiles once."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx

from stream.config import TINY  # engine and training tests build the same tiny models
from stream.runtime.checkpoint import build_models, save_model
from stream.runtime.chunk import SessionSettings
from stream.runtime.engine import Engine
from stream.runtime.timeline import Timeline


def randomised(module: nnx.Module, seed: int, scale: float = 0.05) -> nnx.Module:
    """Add noise to every parameter: AdaLN-Zero starts as the identity with a zero output, under
    which every anchor mode and every history would give the same chunk and tests would prove
    nothing."""
    graphdef, state = nnx.split(module)
    leaves, tree = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    leaves = [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    return nnx.merge(graphdef, jax.tree.unflatten(tree, leaves))


@pytest.fixture(scope="session")
def tiny_models():
    vae, dit = build_models(TINY, seed=0)
    return vae, randomised(dit, seed=1)


@pytest.fixture(scope="session")
def tiny_engine(tiny_models) -> Engine:
    return Engine(TINY, *tiny_models, info={"name": "tiny-test"})


@pytest.fixture(scope="session")
def clip() -> np.ndarray:
    """17 frames (1 + 4*4) of smooth moving content, uint8 (17, 32, 32, 3)."""
    t = np.arange(17)[:, None, None, None]
    y, x = np.mgrid[0:32, 0:32]
    base = 128 + 100 * np.sin((x[None, ..., None] + 2 * t) / 5.0 + np.arange(3) * 2.0)
    return (base + 20 * np.cos(y[None, ..., None] / 4.0)).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_models) -> pathlib.Path:
    """The tiny models as a checkpoint folder, for `stream serve` processes."""
    path = tmp_path_factory.mktemp("model") / "tiny"
    return save_model(path, TINY, *tiny_models, info={"name": "tiny-test"})


@pytest.fixture(scope="session")
def serve_process(tiny_checkpoint, tmp_path_factory):
    """start(port, *flags): a `stream serve` process on the tiny checkpoint, sharing one
    compilation cache with the others (only the first compiles); killed at the end if alive."""
    cache = tmp_path_factory.mktemp("xla")
    started: list[subprocess.Popen] = []

    def start(port: int, *flags: str) -> subprocess.Popen:
        main = "import sys; from cli import main; sys.exit(main(sys.argv[1:]))"
        argv = [sys.executable, "-c", main, "serve", "--checkpoint", str(tiny_checkpoint)]
        argv += ["--port", str(port), "--compilation-cache", str(cache), *flags]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pushed_timeline(engine: Engine, clip: np.ndarray, settings: SessionSettings) -> Timeline:
    """The timeline after pushing clip (1 + 4k, S, S, 3) through the engine's push program:
    frame 0 alone, then groups of 4, as a session pushes them."""
    encoder, timeline = engine.new_encoder_state(), engine.new_timeline()
    for start, stop in [(0, 1)] + [(i, i + 4) for i in range(1, len(clip), 4)]:
        _, encoder, timeline = engine.push(encoder, timeline, clip[None, start:stop], settings)
    return timeline
