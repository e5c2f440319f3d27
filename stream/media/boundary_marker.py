"""A mark on predicted frames, so that a person watching input and prediction in one video sees
where prediction starts and where real input resumes."""

from __future__ import annotations

import numpy as np

MARK_RGB = (255, 0, 0)  # red: rare as a whole border around natural video


def mark_predicted(frames: np.ndarray) -> np.ndarray:
    """A copy of uint8 (N, H, W, 3) frames with a red border 2 pixels wide per 64 of the shorter
    side (at least 2): an even width covers whole 2x2 chroma blocks of an MP4's 4:2:0 pictures,
    so the colour survives encoding, even at the model's 64 pixels."""
    marked = frames.copy()  # (N, H, W, 3)
    width = 2 * max(1, min(frames.shape[1:3]) // 64)
    colour = np.asarray(MARK_RGB, np.uint8)
    marked[:, :width] = colour
    marked[:, -width:] = colour
    marked[:, :, :width] = colour
    marked[:, :, -width:] = colour
    return marked
