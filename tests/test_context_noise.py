"""Committed context enters the cache noised as training noised it; the anchor z_0 stays exact."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from cli import main
from stream.config import TINY, SamplerConfig
from stream.lab.ablation import with_sampler
from stream.lab.stages import Stages
from stream.runtime.engine import Engine
from train.config import DiTObjective, DiTTraining, RunConfig

WINDOW = TINY.dit.window_frames


@pytest.fixture(scope="module")
def clean_engine(tiny_engine) -> Engine:
    """The tiny engine committing context exactly (context_noise 0)."""
    return with_sampler(tiny_engine, context_noise=0.0)


@pytest.fixture(scope="module")
def latents() -> jax.Array:
    d = TINY.dit
    return jax.random.normal(
        jax.random.key(3), (2, 1, 1, d.latent_size, d.latent_size, d.latent_channels)
    )


def _caches(engine: Engine, latents: jax.Array, seed: int) -> list[np.ndarray]:
    """The ring keys after each commit, copied out (commit consumes its cache)."""
    stages = Stages(engine)
    cache, out = stages.new_cache(), []
    for latent in latents:
        cache = stages.commit(cache, latent, WINDOW, True, seed)
        out.append((np.asarray(cache.anchor_k), np.asarray(cache.ring_k)))
    return out


def test_the_anchor_is_committed_exactly(tiny_engine, clean_engine, latents):
    noisy, clean = _caches(tiny_engine, latents, 0), _caches(clean_engine, latents, 0)
    np.testing.assert_array_equal(noisy[0][0], clean[0][0])
    np.testing.assert_array_equal(noisy[0][1], clean[0][1])


def test_later_context_is_committed_noised(tiny_engine, clean_engine, latents):
    noisy, clean = _caches(tiny_engine, latents, 0), _caches(clean_engine, latents, 0)
    assert not np.array_equal(noisy[1][1], clean[1][1])


def test_context_noise_follows_the_seed(tiny_engine, latents):
    first, again = _caches(tiny_engine, latents, 5), _caches(tiny_engine, latents, 5)
    other = _caches(tiny_engine, latents, 6)
    np.testing.assert_array_equal(first[1][1], again[1][1])
    assert not np.array_equal(first[1][1], other[1][1])


@pytest.mark.parametrize("level", [-0.1, 1.0])
def test_context_noise_outside_zero_to_one_is_refused(level):
    with pytest.raises(ValueError, match="context_noise"):
        SamplerConfig(context_noise=level)


def test_training_refuses_to_serve_context_noise_it_never_trained():
    engine = dataclasses.replace(TINY, sampler=SamplerConfig(context_noise=0.2))
    with pytest.raises(ValueError, match="context_noise"):
        DiTTraining(run=RunConfig(engine=engine), objective=DiTObjective(context_noise=0.1))


def test_eval_refuses_a_context_noise_outside_zero_to_one(capsys):
    assert main(["eval", "--context-noise", "1.5"]) == 2
    assert "context_noise" in capsys.readouterr().err
