"""The motion predictor's parts: the warp, the untrained predictor, the rollout and its loss."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.model.motion_net import MotionConfig, MotionNet, predict_next, rollout, warp
from train.config import MotionObjective
from train.motion_objective import motion_loss, pyramid_charbonnier


def _image(seed: int = 0, size: int = 16) -> jax.Array:
    return jax.random.uniform(jax.random.key(seed), (2, size, size, 3), minval=-1, maxval=1)


def test_warping_by_zero_flow_is_the_identity():
    image = _image()
    assert jnp.array_equal(warp(image, jnp.zeros((*image.shape[:3], 2))), image)


def test_warping_by_a_whole_pixel_shifts_the_image_by_one_column():
    image = _image()
    flow = jnp.zeros((*image.shape[:3], 2)).at[..., 0].set(1.0)  # each pixel from its right
    assert jnp.allclose(warp(image, flow)[:, :, :-1], image[:, :, 1:])


def test_warping_by_half_a_pixel_averages_the_neighbours():
    image = _image()
    flow = jnp.zeros((*image.shape[:3], 2)).at[..., 1].set(0.5)  # halfway to the row below
    expected = (image[:, :-1] + image[:, 1:]) / 2
    assert jnp.allclose(warp(image, flow)[:, :-1], expected, atol=1e-6)


def test_an_untrained_predictor_repeats_the_last_frame():
    model = MotionNet(MotionConfig(widths=(8, 8), depths=(1, 1)), rngs=nnx.Rngs(0))
    previous, last = _image(1), _image(2)
    following, flow, _ = predict_next(model, previous, last)
    assert not flow.any()
    assert jnp.allclose(following, last, atol=1e-6)


def test_a_rollout_feeds_each_prediction_back_as_the_last_frame():
    model = MotionNet(MotionConfig(widths=(8, 8), depths=(1, 1)), rngs=nnx.Rngs(0))
    # Break the zero init so that the prediction depends on its inputs.
    params = nnx.state(model, nnx.Param)
    noisy = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.key(3), p.shape), params)
    nnx.update(model, noisy)
    previous, last = _image(1), _image(2)
    frames, _ = rollout(model, previous, last, 3)
    second, _, _ = predict_next(model, last, frames[:, 0])
    assert jnp.allclose(frames[:, 1], second, atol=1e-5)


def test_the_pyramid_loss_is_zero_only_for_equal_frames():
    a, b = _image(1), _image(2)
    assert float(pyramid_charbonnier(a, a, 3)) < 1e-2
    assert float(pyramid_charbonnier(a, b, 3)) > 0.3


def test_the_loss_prefers_moving_with_the_truth_to_standing_still():
    """On a clip panning one pixel per frame, a predictor whose flow is the true pan scores a
    lower loss than one that repeats the last frame."""
    size, steps = 16, 3
    strip = np.asarray(_image(4, size=size + steps + 2)[0])  # (S', S', 3)
    frames = np.stack([strip[:size, t : t + size] for t in range(steps + 2)])[None]  # (1, T, ...)
    flows = np.zeros((1, steps, size, size, 2), np.float32)
    flows[..., 0] = 1.0
    batch = {"frames": jnp.asarray(frames), "flows": jnp.asarray(flows), "known": jnp.ones(1)}
    still = MotionNet(MotionConfig(widths=(8,), depths=(1,)), rngs=nnx.Rngs(0))
    moving = MotionNet(MotionConfig(widths=(8,), depths=(1,)), rngs=nnx.Rngs(0))
    head = moving.blocks[0].head
    head.bias[...] = head.bias[...].at[0].set(1.0)  # flow x = 1 everywhere
    objective = MotionObjective(rollout_steps=steps)
    assert motion_loss(moving, batch, objective)[0] < 0.5 * motion_loss(still, batch, objective)[0]
