"""The mark that shows where prediction starts in a video of input and prediction."""

from __future__ import annotations

import numpy as np

from stream.media.boundary_marker import MARK_RGB, mark_predicted


def test_the_boundary_mark_is_a_red_border_on_a_copy():
    frames = np.full((2, 64, 64, 3), 40, np.uint8)
    marked = mark_predicted(frames)
    for edge in (marked[:, :2], marked[:, -2:], marked[:, :, :2], marked[:, :, -2:]):
        assert (edge == MARK_RGB).all()
    assert (marked[:, 2:-2, 2:-2] == 40).all() and (frames == 40).all()
