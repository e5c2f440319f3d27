"""Properties of the procedural worlds: closed form, determinism, bounds, reflection, motion."""

from __future__ import annotations

import numpy as np
import pytest

from stream.media.worlds import SHAPES, WORLD_FAMILIES, World, WorldConfig, make_world

LONG = np.arange(0, 36_000, 7)  # ten minutes at 60 fps, sampled


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("family", WORLD_FAMILIES)
def test_each_family_renders_uint8_frames_with_content(family: str) -> None:
    clip = make_world(family, seed=0).frames(0, 4)
    assert clip.shape == (4, 64, 64, 3) and clip.dtype == np.uint8
    assert clip.std() > 10


@pytest.mark.parametrize("size", [16, 64, 127])
def test_any_size_from_16_renders(size: int) -> None:
    assert make_world("drift", size=size, num_sprites=6).frame(3).shape == (size, size, 3)


@pytest.mark.parametrize("family", WORLD_FAMILIES)
def test_same_seed_gives_identical_frames(family: str) -> None:
    a = make_world(family, seed=5).frames(100, 3)
    b = World(WorldConfig(family=family, seed=5)).frames(100, 3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family", WORLD_FAMILIES)
def test_different_seeds_give_different_worlds(family: str) -> None:
    a, b = make_world(family, seed=0), make_world(family, seed=1)
    assert _mean_abs_diff(a.frame(0), b.frame(0)) > 10
    assert not np.allclose(a.sprite_positions(0), b.sprite_positions(0))


@pytest.mark.parametrize("family", WORLD_FAMILIES)
def test_frame_at_large_t_is_closed_form_and_batch_independent(family: str) -> None:
    world = make_world(family, seed=2)
    clip = world.frames(35_998, 5)  # frame 36000 in the middle of a batch
    np.testing.assert_array_equal(clip[2], world.frame(36_000))
    np.testing.assert_array_equal(world.frames(36_000, 1)[0], world.frame(36_000))
    # A fresh world rendering only that frame agrees too: nothing depends on earlier calls.
    np.testing.assert_array_equal(make_world(family, seed=2).frame(36_000), clip[2])


@pytest.mark.parametrize("family", WORLD_FAMILIES)
def test_sprites_stay_inside_the_frame_for_ten_minutes(family: str) -> None:
    world = make_world(family, seed=3, num_sprites=len(SHAPES))
    centres = world.sprite_positions(LONG)  # (T, S, 2)
    radii = world.radii[None, :, None]  # (1, S, 1)
    assert centres.shape == (len(LONG), len(SHAPES), 2)
    assert np.all(centres - radii >= 1.0 - 1e-9)
    assert np.all(centres + radii <= world.config.size - 1.0 + 1e-9)


@pytest.mark.parametrize("family", ["sprites", "drift"])
def test_velocity_reflects_at_the_walls_and_keeps_its_speed(family: str) -> None:
    world = make_world(family, seed=4)
    n = world.config.size
    t = np.arange(2_000)
    state = world.state(t)
    speed = np.abs(state.velocities)  # (T, S, 2)
    np.testing.assert_allclose(speed, np.broadcast_to(speed[0], speed.shape))
    flips = np.nonzero(np.diff(np.sign(state.velocities), axis=0))  # (frame, sprite, axis)
    assert len(flips[0]) > 10
    for frame, sprite, axis in zip(*flips, strict=True):
        pos = state.centres[frame : frame + 2, sprite, axis]  # (2,) either side of the flip
        wall_gap = np.minimum(pos - world.radii[sprite] - 1.0, n - world.radii[sprite] - 1.0 - pos)
        assert wall_gap.min() <= speed[0, sprite, axis] + 1e-9  # the turn happens at a wall


@pytest.mark.parametrize("family", ["sprites", "drift"])
def test_bouncing_motion_is_periodic(family: str) -> None:
    world = make_world(family, seed=6)
    velocity = world.state(0).velocities  # (S, 2)
    travel = 2.0 * (world.config.size - 2.0 * (world.radii + 1.0))  # (S,) one round trip
    period = travel[:, None] / np.abs(velocity)  # (S, 2) frames
    t = np.array([17.0, 30_000.0])
    for sprite in range(len(world.shapes)):
        for axis in range(2):
            later = world.sprite_positions(t + 3 * period[sprite, axis])[:, sprite, axis]
            now = world.sprite_positions(t)[:, sprite, axis]
            np.testing.assert_allclose(later, now, atol=1e-6)


@pytest.mark.parametrize("family", WORLD_FAMILIES)
def test_consecutive_frames_differ_but_are_similar(family: str) -> None:
    world = make_world(family, seed=7)
    clip = world.frames(500, 24)
    steps = [_mean_abs_diff(a, b) for a, b in zip(clip[:-1], clip[1:], strict=True)]
    assert min(steps) > 0.05  # something moves in every frame
    assert max(steps) < 6.0  # ... but only a little
    assert _mean_abs_diff(clip[0], clip[-1]) > max(steps)


def test_orbits_draw_back_to_front_by_height_and_the_order_changes() -> None:
    world = make_world("orbits", seed=8, num_sprites=4)
    state = world.state(np.arange(0, 400))
    heights = np.take_along_axis(state.centres[..., 0], state.depth_order, axis=-1)  # (T, S)
    assert np.all(np.diff(heights, axis=-1) >= 0)
    assert len({tuple(order) for order in state.depth_order}) > 1


def test_only_drift_moves_its_background() -> None:
    worlds = {family: make_world(family, seed=9, num_sprites=0) for family in WORLD_FAMILIES}
    for family, world in worlds.items():
        moved = _mean_abs_diff(world.frame(0), world.frame(40)) > 1.0
        assert moved == (family == "drift"), family


def test_rotation_can_be_switched_off() -> None:
    angles = make_world("sprites", rotate=False).state(LONG).angles  # (T, S)
    np.testing.assert_array_equal(angles, np.broadcast_to(angles[0], angles.shape))


def test_unknown_family_raises_value_error_listing_accepted_ones() -> None:
    with pytest.raises(ValueError, match="family") as error:
        make_world("fractals")
    assert all(family in str(error.value) for family in WORLD_FAMILIES)


@pytest.mark.parametrize(
    ("field", "value"),
    [("size", 15), ("size", 64.0), ("seed", -1), ("num_sprites", 7), ("fps", 0.0), ("speed", -1.0)],
)
def test_bad_config_raises_value_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        World(WorldConfig(**{field: value}))


@pytest.mark.parametrize("family", WORLD_FAMILIES)
def test_foreground_is_exactly_where_frames_differ_from_the_background(family: str) -> None:
    world = make_world(family, seed=4, num_sprites=3)
    coverage = world.foreground(50, 3)  # (T, n, n)
    assert coverage.shape == (3, 64, 64) and coverage.min() >= 0.0 and coverage.max() <= 1.0
    assert 0.01 < (coverage > 0.5).mean() < 0.5
    frames, background = world.frames(50, 3), world.background(50, 3)
    changed = np.abs(frames.astype(np.int16) - background).max(-1) > 0  # (T, n, n)
    assert not changed[coverage == 0].any()
    assert changed[coverage > 0.5].mean() > 0.95
