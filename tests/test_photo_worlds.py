"""Photo worlds: real photographs moved in closed form, with exact optical flow."""

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from stream.media.photo_worlds import PHOTO_MOTIONS, PhotoWorld, PhotoWorldConfig, photo_names
from stream.metrics import endpoint_error, optical_flow


def test_every_shipped_photo_has_a_licence_in_the_notice():
    notice = (Path(__file__).parents[1] / "stream" / "assets" / "NOTICE.md").read_text()
    assert len(photo_names()) >= 4
    for name in photo_names():
        assert f"| {name}.jpg |" in notice


def test_a_frame_is_the_same_whether_rendered_alone_or_in_a_run():
    world = PhotoWorld(PhotoWorldConfig(seed=3, motion="mixed"))
    assert np.array_equal(world.frames(100, 3)[1], world.frame(101))


def test_a_still_world_does_not_move_and_has_zero_flow():
    world = PhotoWorld(PhotoWorldConfig(seed=0, motion="still"))
    frames = world.frames(0, 4)
    assert np.array_equal(frames[0], frames[3])
    assert np.abs(world.flow(0, 3)).max() < 1e-6


def test_a_pan_moves_every_pixel_by_one_step():
    world = PhotoWorld(PhotoWorldConfig(seed=1, motion="pan"))
    flow = world.flow(0, 1)[0]  # (S, S, 2)
    assert np.linalg.norm(flow[0, 0]) > 0.2
    assert np.allclose(flow, flow[0, 0], atol=1e-9)


@pytest.mark.parametrize("motion", ["pan", "zoom", "rotate"])
def test_warping_a_frame_along_its_exact_flow_gives_the_next_frame(motion):
    world = PhotoWorld(PhotoWorldConfig(seed=0, motion=motion))
    # Blurred by a pixel so that bilinear resampling of the sharp photo texture is accurate.
    frames = ndimage.gaussian_filter(world.frames(10, 2).astype(np.float64), (0, 1, 1, 0))
    flow = world.flow_at(10)  # (S, S, 2)
    size = world.config.size
    # Forward flow: frame t+1 at p + flow(p) shows what frame t shows at p.
    grid = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="xy"), -1)
    targets = grid + flow  # (S, S, 2) (x, y)
    inside = (targets >= 2).all(-1) & (targets <= size - 3).all(-1)
    moved = np.stack(
        [
            ndimage.map_coordinates(frames[1][..., c], [targets[..., 1], targets[..., 0]], order=1)
            for c in range(3)
        ],
        -1,
    )  # (S, S, 3)
    unmoved = np.abs(frames[1] - frames[0])[inside].mean()
    assert np.abs(moved - frames[0])[inside].mean() < 0.4 * unmoved


@pytest.mark.parametrize("motion", ["pan", "zoom", "rotate"])
def test_the_eval_flow_recovers_a_worlds_exact_camera_flow_within_a_fifth_of_a_pixel(motion):
    for seed in range(3):
        world = PhotoWorld(PhotoWorldConfig(seed=seed, motion=motion))
        estimated = optical_flow(world.frames(0, 5))
        assert endpoint_error(estimated, world.flow(0, 4)) < 0.2


def test_an_unknown_motion_is_refused_with_the_accepted_ones():
    with pytest.raises(ValueError, match="motion.*accepted: " + ", ".join(PHOTO_MOTIONS)):
        PhotoWorldConfig(motion="shake")
