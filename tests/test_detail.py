"""Detail carry-over adds back what the VAE lost of the last real frame, only where the
prediction has not moved."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from stream.filters.detail import carry_detail


def _reference():
    real = jax.random.uniform(jax.random.key(0), (8, 8, 3), minval=-1.0, maxval=1.0)
    decoded = jnp.clip(real + 0.05 * jax.random.normal(jax.random.key(1), real.shape), -1, 1)
    return real, decoded, real - decoded


def test_a_prediction_that_did_not_move_becomes_the_real_frame():
    real, decoded, detail = _reference()
    out = carry_detail(jnp.stack([decoded, decoded]), decoded, detail, 0.1)
    np.testing.assert_allclose(out, jnp.stack([real, real]), atol=1e-6)


def test_where_the_prediction_moved_no_detail_is_added():
    _, decoded, detail = _reference()
    moved = jnp.clip(decoded + 0.8, -1, 1).at[..., 0].set(-decoded[..., 0])[None]  # (1, 8, 8, 3)
    out = carry_detail(moved, decoded, detail, 0.1)
    changed = jnp.max(jnp.abs(moved - decoded), axis=-1) > 0.5  # (1, 8, 8)
    np.testing.assert_allclose(out[changed], moved[changed], atol=1e-6)


def test_zero_width_turns_carry_over_off():
    _, decoded, detail = _reference()
    frames = jnp.stack([decoded])
    np.testing.assert_array_equal(carry_detail(frames, decoded, detail, 0.0), frames)


def test_full_snap_takes_a_small_change_back_to_the_real_frame():
    real, decoded, detail = _reference()
    flicker = decoded + 0.01 * jax.random.normal(jax.random.key(2), decoded.shape)  # (8, 8, 3)
    out = carry_detail(flicker[None], decoded, detail, 0.5, snap=1.0)
    kept = carry_detail(flicker[None], decoded, detail, 0.5)
    assert float(jnp.abs(out - real).max()) < 0.5 * float(jnp.abs(kept - real).max())


def test_snap_leaves_a_moved_prediction_alone():
    _, decoded, detail = _reference()
    moved = jnp.clip(decoded + 0.8, -1, 1).at[..., 0].set(-decoded[..., 0])[None]  # (1, 8, 8, 3)
    changed = jnp.max(jnp.abs(moved - decoded), axis=-1) > 0.5  # (1, 8, 8)
    out = carry_detail(moved, decoded, detail, 0.1, snap=1.0)
    np.testing.assert_allclose(out[changed], moved[changed], atol=1e-6)


def test_each_frame_is_compared_with_the_reference_of_its_own_place_in_the_rhythm():
    real, decoded, _ = _reference()
    rhythm = jnp.stack([decoded, -decoded])  # (2, 8, 8, 3): the decoder's two ways of "no change"
    out = carry_detail(rhythm, rhythm, real - rhythm, 0.1)
    np.testing.assert_allclose(out, jnp.stack([real, real]), atol=1e-6)
