"""A saved model loads back into an engine that produces the same bits."""

from __future__ import annotations

import numpy as np
import pytest

from stream import Engine
from stream.media.worlds import make_world
from stream.runtime.checkpoint import save_model

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)


def test_saved_model_reloads_with_identical_output(tiny_engine, tiny_models, clip, tmp_path):
    path = save_model(tmp_path / "model", tiny_engine.config, *tiny_models, {"name": "round-trip"})
    loaded = Engine.load(path)
    assert loaded.name == "round-trip" and loaded.config == tiny_engine.config
    outputs = []
    for engine in (tiny_engine, loaded):
        session = engine.open(seed=9)
        session.push(clip[:9])
        outputs.append(session.extend(8))
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_loading_a_folder_that_is_no_checkpoint_names_it(tmp_path):
    with pytest.raises(ValueError, match="not a model checkpoint"):
        Engine.load(tmp_path)


def test_load_without_arguments_gives_the_shipped_trained_model_offline():
    engine = Engine.load()
    assert engine.info["steps"]["vae"] > 0 and engine.info["steps"]["dit"] > 0
    assert "dit_psnr_h1" in engine.info["metrics"]
    assert engine.config.image_size == 64
    world = make_world("sprites", seed=1, size=64)
    session = engine.open(seed=0)
    session.push(world.frames(0, 9))
    video = session.extend(8)
    assert video.shape == (8, 64, 64, 3) and video.dtype == np.uint8
    assert video.std() > 5.0, "a trained model continues the picture, not a flat frame"
