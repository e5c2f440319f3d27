"""One road for every setting: a model's sampler config is fixed per engine and compiled in, a
session's choices travel traced, each knob lives in one of them, and every one of them changes
what a session streams (no dead knobs)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import pathlib

import numpy as np
import pytest

from conftest import randomised
from stream import Engine
from stream.config import SMALL, TINY, SamplerConfig
from stream.runtime.chunk import SessionSettings

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Every option on, at values a change of any one knob is seen through.
ALL_ON = SamplerConfig(
    steps=2,
    shift=3.0,
    guidance_strength=2.0,
    context_noise=0.1,
    detail_width=0.5,
    detail_snap=0.5,
    change_scale=0.5,
    fit_change_scale=True,
    guidance_ramp_chunks=2,
)
# Another value for every SamplerConfig field (a test checks none is missing).
SAMPLER_CHANGES = {
    "steps": 3,
    "shift": 1.0,
    "guidance_strength": 20.0,
    "context_noise": 0.05,
    "detail_width": 0.3,
    "detail_snap": 0.0,
    "change_scale": 0.9,
    "fit_change_scale": False,
    "guidance_ramp_chunks": 0,
}
# Another value for every Engine.open argument.
OPEN_CHANGES = {"anchor": "attention", "seed": 1, "steps": 3, "window": 2, "guidance": 20.0}
# What the runtime's programs read of the sampler config, and the value that would turn each
# off: the shipped model must have it on (an option it ships off belongs in the lab).
RUNTIME_OFF = {
    "context_noise": 0.0,
    "change_scale": 1.0,
    "fit_change_scale": False,
    "guidance_ramp_chunks": 0,
}


def _streamed(engine: Engine, **open_kw) -> np.ndarray:
    """What a session streams: 8 frames after the first frame alone (before the change-scale fit
    has a test), then 8 more after 16 more real frames."""
    t = np.arange(17)[:, None, None, None]
    y, x = np.mgrid[0:32, 0:32]
    clip = (128 + 90 * np.sin((x[None, ..., None] + 2 * t) / 5.0 + np.arange(3) * 2.0)) + (
        20 * np.cos(y[None, ..., None] / 4.0)
    )
    clip = clip.clip(0, 255).astype(np.uint8)  # (17, 32, 32, 3)
    session = engine.open(**open_kw)
    session.push(clip[:1])
    early = session.extend(8)
    session.push(clip[1:])
    return np.concatenate([early, session.extend(8)])  # (16, 32, 32, 3)


@pytest.fixture(scope="module")
def models(tiny_models):
    """The tiny models with a DiT whose attention reaches the pixels: at the shared fixture's
    small weights the context's keys and values change no streamed uint8 value."""
    vae, dit = tiny_models
    return vae, randomised(dit, seed=2, scale=0.3)


@pytest.fixture(scope="module")
def all_on(models) -> tuple[Engine, np.ndarray]:
    engine = Engine(dataclasses.replace(TINY, sampler=ALL_ON), *models)
    return engine, _streamed(engine)


def test_every_sampler_field_and_open_argument_is_walked():
    assert set(SAMPLER_CHANGES) == {f.name for f in dataclasses.fields(SamplerConfig)}
    assert set(OPEN_CHANGES) == set(inspect.signature(Engine.open).parameters) - {"self"}


def test_a_session_setting_is_never_also_a_fixed_sampler_setting():
    fixed = {f.name for f in dataclasses.fields(SamplerConfig)} - set(
        SamplerConfig.SESSION_DEFAULTS
    )
    assert set(SessionSettings._fields) & fixed == set()


def test_every_session_default_is_an_open_argument_or_names_one():
    arguments = set(OPEN_CHANGES)
    for name in SamplerConfig.SESSION_DEFAULTS:
        assert name in arguments or name.split("_")[0] in arguments, name


@pytest.mark.parametrize("name", sorted(OPEN_CHANGES))
def test_every_open_argument_changes_what_a_session_streams(all_on, name):
    engine, streamed = all_on
    assert not np.array_equal(_streamed(engine, **{name: OPEN_CHANGES[name]}), streamed)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SAMPLER_CHANGES))
def test_every_sampler_setting_changes_what_a_session_streams(models, all_on, name):
    sampler = dataclasses.replace(ALL_ON, **{name: SAMPLER_CHANGES[name]})
    engine = Engine(dataclasses.replace(TINY, sampler=sampler), *models)
    assert not np.array_equal(_streamed(engine), all_on[1])


def _sampler_fields_read(folder: pathlib.Path) -> set[str]:
    """Fields read as `<...>.sampler.<field>` in the folder's source."""
    fields = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "sampler"
            ):
                fields.add(node.attr)
    return fields


def test_the_runtime_reads_no_sampler_option_the_shipped_model_has_off():
    read = _sampler_fields_read(ROOT / "stream" / "runtime") - set(SamplerConfig.SESSION_DEFAULTS)
    assert read <= set(RUNTIME_OFF) | {"shift"}, f"classify {read - set(RUNTIME_OFF)}"
    shipped = Engine.load().config.sampler
    for name in read & set(RUNTIME_OFF):
        assert getattr(shipped, name) != RUNTIME_OFF[name], name
        assert getattr(SMALL.sampler, name) != RUNTIME_OFF[name], name
