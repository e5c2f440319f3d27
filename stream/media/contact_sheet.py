"""Contact sheets: rows of frames (truth, prediction, baselines) at a few horizons, as one PNG.

Numbers can hide what a person sees at once (objects dissolving, block seams, a cut at the start
of an extension), so `stream eval --sheet DIR` writes one sheet per clip. Frames are upscaled by
nearest neighbour, never interpolated: interpolation would smooth away the very seams and blur
the sheet is for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_GAP = 2  # pixels between tiles, after upscaling
_LABEL_WIDTH = 110  # pixels left of the grid for the row labels
_HEADER = 38  # pixels above the grid for the title and the column labels
_DPI = 100


def tile_grid(rows: Sequence[np.ndarray], scale: int = 3) -> np.ndarray:
    """Rows of frames, each uint8 (C, H, W, 3), as one uint8 image with white gaps.

    Every frame is upscaled scale x by nearest neighbour; all rows need the same C, H, W.
    """
    frames = np.stack(rows)  # (R, C, H, W, 3)
    frames = frames.repeat(scale, axis=2).repeat(scale, axis=3)  # (R, C, sH, sW, 3)
    r, c, h, w, _ = frames.shape
    grid = np.full((r * (h + _GAP) - _GAP, c * (w + _GAP) - _GAP, 3), 255, np.uint8)
    for i, j in np.ndindex(r, c):
        grid[i * (h + _GAP) : i * (h + _GAP) + h, j * (w + _GAP) : j * (w + _GAP) + w] = frames[
            i, j
        ]
    return grid  # (R*(sH+gap)-gap, C*(sW+gap)-gap, 3)


def write_contact_sheet(
    path: str | Path,
    rows: Sequence[tuple[str, np.ndarray]],
    columns: Sequence[str],
    title: str = "",
    scale: int = 3,
) -> Path:
    """Write a PNG of labelled rows (label, uint8 frames (C, H, W, 3)) under column labels.

    The grid is placed pixel for pixel (figimage at the saving dpi), so the upscaled pixels are
    exact squares in the file.
    """
    grid = tile_grid([frames for _, frames in rows], scale)  # (GH, GW, 3)
    grid_h, grid_w = grid.shape[:2]
    width, height = _LABEL_WIDTH + grid_w + _GAP, _HEADER + grid_h + _GAP
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(fig)
    fig.figimage(grid, xo=_LABEL_WIDTH, yo=_GAP, origin="upper")
    tile_h = (grid_h + _GAP) / len(rows)
    tile_w = (grid_w + _GAP) / len(columns)
    for i, (label, _) in enumerate(rows):
        y = _GAP + grid_h - (i + 0.5) * tile_h  # pixels from the bottom
        fig.text(6 / width, y / height, label, va="center", ha="left", fontsize=9)
    for j, label in enumerate(columns):
        x = _LABEL_WIDTH + (j + 0.5) * tile_w
        fig.text(x / width, (_GAP + grid_h + 3) / height, label, ha="center", fontsize=8)
    if title:
        fig.text(6 / width, (height - 4) / height, title, va="top", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, facecolor="white")
    return path
