"""A session's state holds what prediction needs (KV cache, decoder state, last latent, z_0, the
change-scale policy) and a field for an option only while the model has it on."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from flax import nnx

from stream import Engine
from stream.config import TINY, SamplerConfig
from stream.runtime.chunk import session_settings
from stream.runtime.timeline import push

OFF = SamplerConfig(detail_width=0.0, fit_change_scale=False)
ON = SamplerConfig(detail_width=0.5, detail_snap=0.5, fit_change_scale=True)


def _engine(tiny_models, sampler: SamplerConfig) -> Engine:
    return Engine(dataclasses.replace(TINY, sampler=sampler), *tiny_models)


def _after_push(engine: Engine):
    """The timeline's shapes after a push of 4 frames, traced without compiling."""
    config, size = engine.config, engine.config.image_size
    settings = session_settings(
        config.dit.window_frames, True, 0.0, 0, config.sampler.steps, config.sampler
    )
    dit = nnx.merge(engine.dit_def, engine.dit_params)
    vae = nnx.merge(engine.vae_def, engine.vae_params)
    frames = np.zeros((1, 4, size, size, 3), np.uint8)
    encoder = engine.new_encoder_state()

    def pushed(timeline):
        return push(dit, vae, config, encoder, timeline, frames, settings)[2]

    return jax.eval_shape(pushed, engine.new_timeline())


def test_with_every_option_off_the_state_is_what_prediction_needs(tiny_models):
    timeline = _engine(tiny_models, OFF).new_timeline()
    assert timeline.scale_fit == () and timeline.filters == ()


def test_a_push_adds_no_state_for_an_option_that_is_off(tiny_models):
    after = _after_push(_engine(tiny_models, OFF))
    assert after.scale_fit == () and after.filters == ()


def test_the_options_that_are_on_hold_their_own_state(tiny_models):
    timeline = _engine(tiny_models, ON).new_timeline()
    assert timeline.scale_fit.shape == (2,)
    assert len(timeline.filters) == 1


def test_a_push_keeps_the_states_shapes(tiny_models):
    engine = _engine(tiny_models, ON)
    before, after = engine.new_timeline(), _after_push(engine)
    assert jax.tree.structure(before) == jax.tree.structure(after)
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
        assert a.shape == b.shape
