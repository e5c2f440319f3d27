"""One data-parallel training step on 4 (virtual CPU) devices equals the same step on 1."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)

SCRIPT = textwrap.dedent(
    """
    import jax
    import numpy as np
    import optax

    from stream.runtime.checkpoint import build_models
    from stream.config import TINY
    from train.config import VAEObjective, OptimConfig
    from train.loop import initial_state, make_optimizer, make_train_step
    from train.objectives import vae_loss
    from train.sharding import make_mesh, put_replicated

    assert len(jax.devices()) == 4, jax.devices()
    vae, _ = build_models(TINY, seed=0)
    adamw, adamw_schedule = make_optimizer(OptimConfig(warmup_steps=0), 10)
    frames = np.random.default_rng(0).uniform(-1, 1, (4, 5, 32, 32, 3)).astype(np.float32)

    def loss(model, batch, key, variant):
        return vae_loss(model, batch, key, VAEObjective())

    def one_step(devices, optimizer, schedule):
        mesh = make_mesh(devices)
        step = make_train_step(vae, loss, optimizer, schedule, mesh)
        state = put_replicated(initial_state(vae, optimizer), mesh)
        state, metrics = step(state, frames, jax.random.key(1), None)
        params = state["params"]
        print(len(devices), "devices: loss", float(metrics["loss"]),
              params["decoder"]["conv_out"]["kernel"].sharding)
        return float(metrics["loss"]), jax.tree.map(np.asarray, params)

    # SGD: the update is the gradient itself, so the all-reduced gradient must match tightly.
    # AdamW: its first step is about lr * sign(g), which flips where a gradient is within float
    # noise of 0, so there the params may differ by up to 2 lr; elsewhere they match.
    sgd = optax.sgd(0.1)
    for optimizer, schedule, atol in ((sgd, lambda _: 0.1, 1e-7), (adamw, adamw_schedule, 1e-5)):
        loss_1, params_1 = one_step(jax.devices()[:1], optimizer, schedule)
        loss_4, params_4 = one_step(jax.devices(), optimizer, schedule)
        np.testing.assert_allclose(loss_4, loss_1, rtol=1e-5)
        flat_1, flat_4 = jax.tree.leaves(params_1), jax.tree.leaves(params_4)
        close = [np.isclose(a, b, rtol=1e-5, atol=atol) for a, b in zip(flat_4, flat_1)]
        fraction = sum(c.sum() for c in close) / sum(c.size for c in close)
        print("fraction of parameters equal within tolerance:", fraction)
        assert fraction == 1.0 if optimizer is sgd else fraction > 0.999, fraction
    print("OK")
    """
)


def test_four_device_step_equals_one_device_step():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "STREAM_VIDEO_DIR": "/nonexistent",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "OK" in result.stdout
