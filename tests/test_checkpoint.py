"""A saved model loads back into an engine that produces the same bits."""

from __future__ import annotations

import numpy as np
import pytest

from stream import Engine
from stream.checkpoint import save_model


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
