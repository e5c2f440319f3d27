"""Videos made of real photographs whose motion is known exactly, in closed form at any frame t.

A camera looks at a photograph and pans, zooms and rotates over it; cut-out objects (discs,
ellipses and rounded boxes textured from another photograph) slide over it and bounce off the
frame's edges. Every pose is a closed-form function of t (triangle waves for bounces, sines for
zoom), so frame 36000 costs what frame 0 costs, and the optical flow between any two frames is
exact: it can supervise a motion model and judge a flow estimator.

Conventions: pixel (row i, column j) spans [j, j + 1) x [i, i + 1) with its centre at
(j + 0.5, i + 0.5); points are (x, y). A flow field is (H, W, 2) float32 (dx, dy) in pixels, the
forward flow from frame t to frame t + 1 (OpenCV's convention): the content at p in frame t is at
p + flow[p] in frame t + 1. Where an object covers a pixel (alpha above one half) the flow is the
object's motion, elsewhere the camera's; content that only enters at t + 1 has no flow at t.

The photographs are in `stream/assets/photos/`; their sources and licences in
`stream/assets/NOTICE.md`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import numpy as np
from scipy import ndimage

PHOTO_MOTIONS: tuple[str, ...] = ("still", "pan", "zoom", "rotate", "objects", "mixed")
OBJECT_SHAPES: tuple[str, ...] = ("disc", "ellipse", "box")
PHOTOS_DIR = Path(__file__).resolve().parents[1] / "assets" / "photos"
# Pan speeds of the camera and the objects, output pixels per frame at the default speed: from
# barely moving to a fast pan that crosses a 64-pixel frame in 20 frames.
_SPEED_RANGE = (0.25, 3.2)


@functools.cache
def photo_names() -> tuple[str, ...]:
    """The shipped photographs, sorted by name."""
    return tuple(sorted(p.stem for p in PHOTOS_DIR.glob("*.jpg")))


# Gaussian blur, in photo pixels per output pixel, applied before sampling a photograph: a camera's
# low-pass, without which a photo sampled at 2-5 photo pixels per output pixel aliases into noise.
_ANTIALIAS = 0.45


@functools.cache
def _photo(name: str, blur: float = 0.0) -> np.ndarray:
    """A shipped photograph as float32 (H, W, 3) in [0, 255], blurred by a Gaussian of `blur`
    photo pixels."""
    from PIL import Image

    with Image.open(PHOTOS_DIR / f"{name}.jpg") as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)  # (H, W, 3)
    return ndimage.gaussian_filter(pixels, sigma=(blur, blur, 0.0)) if blur else pixels


def _triangle(position0: np.ndarray, velocity: np.ndarray, lo: np.ndarray, span: np.ndarray, t):
    """Closed-form bouncing: lo + the distance travelled folded into [0, span] by reflection."""
    travelled = np.mod(position0 - lo + velocity * t, 2.0 * span)
    return lo + np.where(travelled <= span, travelled, 2.0 * span - travelled)


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


@dataclasses.dataclass(frozen=True)
class PhotoWorldConfig:
    seed: int = 0
    size: int = 64  # frames are size x size pixels
    motion: str = "mixed"  # one of PHOTO_MOTIONS; "mixed" draws a subset of the others per seed
    speed: float = 1.0  # multiplies every motion; 0 gives a still video

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"PhotoWorldConfig.seed={self.seed!r} must be an int >= 0")
        if not isinstance(self.size, int) or not 16 <= self.size <= 128:
            raise ValueError(f"PhotoWorldConfig.size={self.size!r} must be an int in 16..128")
        if self.motion not in PHOTO_MOTIONS:
            raise ValueError(
                f"PhotoWorldConfig.motion={self.motion!r} is not a photo-world motion; "
                f"accepted: {', '.join(PHOTO_MOTIONS)}"
            )
        if not (math.isfinite(self.speed) and self.speed >= 0):
            raise ValueError(f"PhotoWorldConfig.speed={self.speed!r} must be a finite number >= 0")


class PhotoWorld:
    """A seeded photo video; `frames(start, count)` and `flow(start, count)` in closed form."""

    def __init__(self, config: PhotoWorldConfig) -> None:
        self.config = config
        rng = np.random.default_rng([config.seed, PHOTO_MOTIONS.index(config.motion), 7])
        names = photo_names()
        order = rng.permutation(len(names))
        self.photo = names[order[0]]
        n, speed = config.size, config.speed
        motion = config.motion
        if motion == "mixed":
            parts = set(np.asarray(PHOTO_MOTIONS[1:5])[rng.random(4) < 0.5]) or {"pan"}
        else:
            parts = {motion} - {"still"}

        height, width = _photo(self.photo).shape[:2]
        # The zoom's widest view, turned to any angle, must stay inside the photograph.
        self._zoom_amp = rng.uniform(0.1, 0.3) if "zoom" in parts else 0.0
        widest = 0.8 * min(height, width) / (n * (math.sqrt(2.0) if "rotate" in parts else 1.0))
        self._scale0 = rng.uniform(0.55, 1.0) * widest / math.exp(self._zoom_amp)
        radius = n / 2 * self._scale0 * math.exp(self._zoom_amp)
        radius *= math.sqrt(2.0) if "rotate" in parts else 1.0
        self._centre_lo = np.array([radius, radius])  # (2,) (x, y) in photo pixels
        self._centre_span = np.array([width - 2 * radius, height - 2 * radius])  # (2,)
        self._centre0 = self._centre_lo + self._centre_span * rng.random(2)  # (2,)
        pan = rng.uniform(*_SPEED_RANGE) * speed if "pan" in parts else 0.0
        heading = rng.uniform(0.0, 2.0 * np.pi)
        # Photo pixels per frame at the base scale: the pan is `pan` output pixels per frame.
        self._pan = pan * self._scale0 * np.array([math.cos(heading), math.sin(heading)])
        self._zoom_rate = 2 * np.pi / rng.uniform(40.0, 120.0) * speed  # rad of the sine per frame
        self._zoom_phase = rng.uniform(0.0, 2.0 * np.pi)
        spin = math.radians(rng.uniform(0.2, 1.5)) * rng.choice([-1.0, 1.0]) * speed
        self._spin = spin if "rotate" in parts else 0.0  # rad per frame
        self._angle0 = rng.uniform(-0.3, 0.3) if "rotate" in parts else 0.0

        count = int(rng.integers(1, 4)) if "objects" in parts else 0
        self.object_shapes = tuple(OBJECT_SHAPES[i] for i in rng.integers(0, 3, count))
        self._half_axes = n * rng.uniform(0.1, 0.22, (count, 2))  # (K, 2) (x, y) pixels
        self._half_axes[:, 1] = np.where(
            np.array([s == "disc" for s in self.object_shapes]),
            self._half_axes[:, 0],
            self._half_axes[:, 1],
        )
        self._object_lo = self._half_axes + 1.0  # (K, 2) lowest centre coordinate
        self._object_span = n - 2.0 * self._object_lo  # (K, 2)
        self._object0 = self._object_lo + self._object_span * rng.random((count, 2))  # (K, 2)
        object_heading = rng.uniform(0.0, 2.0 * np.pi, count)  # (K,)
        object_speed = rng.uniform(*_SPEED_RANGE, count) * speed  # (K,) output pixels per frame
        self._object_velocity = object_speed[:, None] * np.stack(
            [np.cos(object_heading), np.sin(object_heading)], -1
        )  # (K, 2)
        self._texture = names[order[1 % len(names)]]
        tex_height, tex_width = _photo(self._texture).shape[:2]
        self._texture_scale = rng.uniform(2.0, 4.0, count)  # (K,) photo pixels per output pixel
        margin = (self._half_axes.max(-1) + 1) * self._texture_scale  # (K,)
        room = np.array([tex_width, tex_height]) - 2.0 * margin[:, None]  # (K, 2)
        self._texture_origin = margin[:, None] + room * rng.random((count, 2))  # (K, 2) (x, y)
        self._pixel_centres = np.stack(
            np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="xy"), -1
        )  # (S, S, 2) (x, y)

    def _camera(self, t: float) -> tuple[np.ndarray, float, float]:
        """(centre (2,) in photo pixels, photo pixels per output pixel, angle) at frame t."""
        centre = _triangle(self._centre0, self._pan, self._centre_lo, self._centre_span, t)
        scale = self._scale0 * math.exp(
            self._zoom_amp * math.sin(self._zoom_rate * t + self._zoom_phase)
        )
        return centre, scale, self._angle0 + self._spin * t

    def _to_photo(self, points: np.ndarray, t: float) -> np.ndarray:
        """Output-pixel points (..., 2) at frame t -> the photo points they show (..., 2)."""
        centre, scale, angle = self._camera(t)
        offset = points - self.config.size / 2.0  # (..., 2)
        return centre + scale * offset @ _rotation(angle).T

    def _from_photo(self, points: np.ndarray, t: float) -> np.ndarray:
        """The inverse of _to_photo."""
        centre, scale, angle = self._camera(t)
        return self.config.size / 2.0 + ((points - centre) / scale) @ _rotation(-angle).T

    def _objects(self, t: float) -> np.ndarray:
        """Object centres (K, 2) (x, y) in output pixels at frame t."""
        return _triangle(
            self._object0, self._object_velocity, self._object_lo, self._object_span, t
        )

    def _alphas(self, t: float) -> np.ndarray:
        """Each object's coverage of each pixel at frame t, anti-aliased over a pixel: (K, S, S)."""
        offsets = self._pixel_centres[None] - self._objects(t)[:, None, None]  # (K, S, S, 2)
        unit = offsets / self._half_axes[:, None, None]  # (K, S, S, 2)
        alphas = []
        for k, shape in enumerate(self.object_shapes):
            if shape == "box":
                # Rounded box: a superellipse, whose edge is as sharp as the ellipse's.
                norm = np.sum(np.abs(unit[k]) ** 4, -1) ** 0.25  # (S, S)
            else:
                norm = np.linalg.norm(unit[k], axis=-1)  # (S, S)
            inside = (1.0 - norm) * self._half_axes[k].min()  # (S, S) ~ pixels inside the edge
            alphas.append(np.clip(inside + 0.5, 0.0, 1.0))
        return np.asarray(alphas).reshape(len(self.object_shapes), *offsets.shape[1:3])

    def frame(self, t: float) -> np.ndarray:
        """Frame t: uint8 (S, S, 3)."""
        background = _photo(self.photo, self._blur(self._scale0))
        pixels = _sample(background, self._to_photo(self._pixel_centres, t))  # (S, S, 3)
        centres = self._objects(t)  # (K, 2)
        for k, alpha in enumerate(self._alphas(t)):
            local = self._pixel_centres - centres[k]  # (S, S, 2)
            texture = _sample(
                _photo(self._texture, self._blur(self._texture_scale[k])),
                self._texture_origin[k] + self._texture_scale[k] * local,
            )  # (S, S, 3)
            pixels = pixels * (1.0 - alpha[..., None]) + texture * alpha[..., None]
        return np.clip(np.round(pixels), 0, 255).astype(np.uint8)

    def frames(self, start: int, count: int) -> np.ndarray:
        """Frames start .. start + count - 1: uint8 (count, S, S, 3)."""
        return np.stack([self.frame(t) for t in range(start, start + count)])

    def flow_between(self, source: float, target: float) -> np.ndarray:
        """Where the content at each pixel of frame `source` is in frame `target`, minus the
        pixel: float32 (S, S, 2) (dx, dy). (t, t + 1) is the forward flow, (t + 1, t) the
        backward flow that warps frame t into frame t + 1."""
        points = self._pixel_centres  # (S, S, 2)
        moved = self._from_photo(self._to_photo(points, source), target)  # (S, S, 2)
        flow = moved - points
        step = self._objects(target) - self._objects(source)  # (K, 2)
        for k, alpha in enumerate(self._alphas(source)):
            flow = np.where(alpha[..., None] > 0.5, step[k], flow)
        return flow.astype(np.float32)

    def flow_at(self, t: float) -> np.ndarray:
        """The exact forward flow from frame t to frame t + 1: float32 (S, S, 2) (dx, dy)."""
        return self.flow_between(t, t + 1)

    def flow(self, start: int, count: int) -> np.ndarray:
        """Forward flows of frames start .. start + count - 1: float32 (count, S, S, 2)."""
        return np.stack([self.flow_at(t) for t in range(start, start + count)])

    @staticmethod
    def _blur(scale: float) -> float:
        """The anti-aliasing blur for sampling at `scale` photo pixels per output pixel, rounded
        to a quarter pixel so that worlds share cached blurred photos."""
        return round(4 * _ANTIALIAS * scale) / 4


def _sample(pixels: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of an image (H, W, 3) at points (..., 2) (x, y): float (..., 3)."""
    coords = [points[..., 1] - 0.5, points[..., 0] - 0.5]  # (row, column) of pixel centres
    channels = [
        ndimage.map_coordinates(pixels[..., c], coords, order=1, mode="reflect") for c in range(3)
    ]
    return np.stack(channels, -1)
