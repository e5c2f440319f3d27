"""Procedural synthetic videos whose frames and state are closed-form functions of the frame index.

Frame t is computed from t directly (no stepping), so frame 36000 costs what frame 0 costs and a
10-minute rollout can be compared against exact ground truth at any time. Every world is drawn from
a generator seeded by (seed, family) in size-relative units, so one (family, seed) at sizes 64 and
128 is the same scene at two resolutions, up to one-pixel margins and the finest background texture
(capped to what the grid can show).

Families (``WORLD_FAMILIES``):
- ``"sprites"``: a static textured background; sprites of distinct shapes and colours move at
  constant velocity, bounce off the walls by reflection (each coordinate is a triangle wave of t)
  and rotate at constant angular velocity. Fixed draw order.
- ``"drift"``: the same bouncing sprites over a background that pans at constant velocity (a camera
  pan); the background tiles, so the pan wraps around and global motion never runs out.
- ``"orbits"``: a static background; sprites travel on ellipses around the middle of the frame at
  constant angular speed and are drawn back to front by their height in the frame (lower = nearer),
  so they pass in front of and behind each other: occlusion with an ordering that changes over time.

Coordinates are pixels with (y, x) order; pixel i spans [i, i + 1), so its centre is i + 0.5.
Sprite edges are anti-aliased by a smoothstep over about one pixel of a signed distance function.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import ArrayLike

WORLD_FAMILIES: tuple[str, ...] = ("sprites", "drift", "orbits")
SHAPES: tuple[str, ...] = ("disc", "square", "triangle", "ring", "cross", "star")

# Saturated hues far from each other and from the muted background, so every sprite stands out.
_PALETTE = np.array(
    [
        [0.92, 0.20, 0.15],  # red
        [0.97, 0.82, 0.10],  # yellow
        [0.20, 0.80, 0.25],  # green
        [0.10, 0.75, 0.92],  # cyan
        [0.22, 0.30, 0.95],  # blue
        [0.88, 0.22, 0.82],  # magenta
        [1.00, 0.55, 0.10],  # orange
        [0.97, 0.97, 0.97],  # white
    ],
    dtype=np.float32,
)
_BOUNCING = ("sprites", "drift")
# Pixels rendered together: enough to vectorise, few enough to stay in cache.
_CHUNK_PIXELS = 1 << 18


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    family: str = "sprites"
    size: int = 64  # frames are size x size pixels
    seed: int = 0
    num_sprites: int = 3  # 0 .. len(SHAPES); each sprite has its own shape and colour
    rotate: bool = True
    fps: float = 16.0  # converts the world's speeds (set in seconds) to per-frame motion
    speed: float = 1.0  # multiplies every motion (sprites, rotation, pan); 0 gives a still video

    def __post_init__(self) -> None:
        if self.family not in WORLD_FAMILIES:
            raise ValueError(
                f"WorldConfig.family={self.family!r} is not a world family; "
                f"accepted: {', '.join(WORLD_FAMILIES)}"
            )
        if not _is_int(self.size) or self.size < 16:
            raise ValueError(f"WorldConfig.size={self.size!r} must be an int >= 16")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"WorldConfig.seed={self.seed!r} must be an int >= 0")
        if not _is_int(self.num_sprites) or not 0 <= self.num_sprites <= len(SHAPES):
            raise ValueError(
                f"WorldConfig.num_sprites={self.num_sprites!r} must be an int in "
                f"0..{len(SHAPES)} (one sprite per shape: {', '.join(SHAPES)})"
            )
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"WorldConfig.fps={self.fps!r} must be a finite number > 0")
        if not (math.isfinite(self.speed) and self.speed >= 0):
            raise ValueError(f"WorldConfig.speed={self.speed!r} must be a finite number >= 0")


@dataclasses.dataclass(frozen=True)
class WorldState:
    """Exact ground truth at the times t given to ``World.state``; leading axes follow t's shape."""

    centres: np.ndarray  # (..., S, 2) float64 sprite centres (y, x) in pixels
    velocities: np.ndarray  # (..., S, 2) float64 pixels per frame
    angles: np.ndarray  # (..., S) float64 rotation in radians
    depth_order: np.ndarray  # (..., S) int64 sprite indices from back to front
    pan: np.ndarray  # (..., 2) float64 background displacement (y, x) in [0, size) pixels


class World:
    """A seeded procedural video; ``frame(t)`` renders frame t in closed form."""

    def __init__(self, config: WorldConfig) -> None:
        if not isinstance(config, WorldConfig):
            raise TypeError(f"World needs a WorldConfig, got {type(config).__name__}")
        self.config = config
        n, fps, speed = config.size, config.fps, config.speed
        # The family is mixed into the seed so that families with one seed are unrelated worlds.
        rng = np.random.default_rng([config.seed, WORLD_FAMILIES.index(config.family)])
        num = config.num_sprites

        self.shapes: tuple[str, ...] = tuple(SHAPES[i] for i in rng.permutation(len(SHAPES))[:num])
        self.colours = _PALETTE[rng.permutation(len(_PALETTE))[:num]]  # (S, 3) in [0, 1]
        self.radii = n * rng.uniform(0.08, 0.12, num)  # (S,) pixels, circumscribed radius
        # A one-pixel margin keeps the anti-aliased rim inside the frame too.
        self._lo = self.radii + 1.0  # (S,) lowest centre coordinate on either axis
        self._span = n - 2.0 * self._lo  # (S,) room the centre has to travel
        self._angle0 = rng.uniform(0.0, 2.0 * np.pi, num)  # (S,)
        spin = rng.uniform(0.4, 1.2, num) * rng.choice([-1.0, 1.0], num) / fps  # (S,) rad/frame
        self._spin = spin * speed if config.rotate else np.zeros(num)

        if config.family in _BOUNCING:
            self._start = self._lo[:, None] + self._span[:, None] * rng.random((num, 2))  # (S, 2)
            # Headings 20-70 degrees off an axis so that both coordinates keep bouncing.
            heading = rng.integers(0, 4, num) * (np.pi / 2) + rng.uniform(
                np.pi / 9, 7 * np.pi / 18, num
            )  # (S,)
            crossing = rng.uniform(2.5, 5.0, num)  # (S,) seconds to cross the frame
            pixels_per_frame = n / crossing / fps * speed  # (S,)
            self._velocity = pixels_per_frame[:, None] * np.stack(
                [np.sin(heading), np.cos(heading)], axis=-1
            )  # (S, 2)
        else:
            offset = n * rng.uniform(-0.05, 0.05, 2)  # (2,)
            self._orbit_centre = n / 2 + offset  # (2,)
            room = n / 2 - np.abs(offset)[None, :] - self._lo[:, None]  # (S, 2)
            self._orbit_axes = np.minimum(
                n * np.stack([rng.uniform(0.1, 0.3, num), rng.uniform(0.2, 0.35, num)], -1), room
            )  # (S, 2) semi-axes (y, x)
            self._orbit_phase = rng.uniform(0.0, 2.0 * np.pi, num)  # (S,)
            period = rng.uniform(4.0, 8.0, num)  # (S,) seconds per revolution
            self._orbit_rate = rng.choice([-1.0, 1.0], num) * 2 * np.pi / (period * fps) * speed

        pan_heading = rng.uniform(0.0, 2.0 * np.pi)
        pan_speed = 0.0
        if config.family == "drift":
            pan_speed = n / rng.uniform(6.0, 12.0) / fps * speed  # one tile every 6-12 s
        self._pan_velocity = pan_speed * np.array([np.sin(pan_heading), np.cos(pan_heading)])

        self._init_background(rng)
        # A box around each sprite (not the whole frame) is shaded: it holds the sprite and its
        # anti-aliased rim wherever the centre is (see _sprite_layers).
        self._box = 2 * math.ceil(float(self.radii.max(initial=0.0)) + 2.0)
        self._still = None
        if config.family != "drift":
            self._still = self._background(np.zeros((1, 2)))[0]  # (n, n, 3)

    def _init_background(self, rng: np.random.Generator) -> None:
        """Base colour plus a few smooth colour waves and finer, fainter ones.

        Frequencies are whole cycles per frame so the texture tiles and the pan can wrap.
        """
        n = self.config.size
        low = rng.integers(-2, 3, (6, 2))  # (6, 2) cycles per frame (y, x)
        low[np.all(low == 0, axis=1)] = (1, 0)
        fine_cycles = np.minimum(rng.uniform(3.0, 8.0, 10), n / 8)  # (10,) finest is 8 px/cycle
        fine_heading = rng.uniform(0.0, 2.0 * np.pi, 10)  # (10,)
        fine = np.rint(
            fine_cycles[:, None] * np.stack([np.sin(fine_heading), np.cos(fine_heading)], -1)
        )  # (10, 2)
        freq = np.concatenate([low, fine])  # (K, 2)
        amplitude = np.concatenate([np.full(6, 0.08), np.full(10, 0.025)])  # (K,)
        colour_mix = rng.uniform(-1.0, 1.0, (16, 3)) * amplitude[:, None]  # (K, 3)
        phase = np.exp(2j * np.pi * rng.random(16))  # (K,)
        self._bg_weights = colour_mix * phase[:, None]  # (K, 3) complex
        self._bg_base = rng.uniform(0.3, 0.55, 3).astype(np.float32)  # (3,) muted mid tone
        # Wave k is Re(weight * exp(i (omega_y * y + omega_x * x))); its row and column factors
        # do not depend on t, only the pan's phase does (see _background).
        self._bg_omega = 2.0 * np.pi / n * freq  # (K, 2) radians per pixel
        phase = (np.arange(n) + 0.5)[:, None, None] * self._bg_omega  # (n, K, 2) at pixel centres
        phase_y, phase_x = phase[..., 0], phase[..., 1]  # (n, K) each
        self._bg_rows = np.concatenate([np.cos(phase_y), -np.sin(phase_y)], -1).astype(np.float32)
        self._bg_cols = np.exp(1j * phase_x)  # (n, K)

    def state(self, t: ArrayLike) -> WorldState:
        """Exact state at frame index t (any real t, scalar or array)."""
        t = np.asarray(t, dtype=np.float64)[..., None]  # (..., 1)
        angles = self._angle0 + self._spin * t  # (..., S)
        if self.config.family in _BOUNCING:
            # Reflection off both walls makes each coordinate a triangle wave of t.
            span = self._span[:, None]  # (S, 1)
            travelled = (self._start - self._lo[:, None]) + self._velocity * t[..., None]
            folded = np.mod(travelled, 2.0 * span)  # (..., S, 2)
            centres = self._lo[:, None] + span - np.abs(folded - span)  # (..., S, 2)
            velocities = np.where(folded < span, self._velocity, -self._velocity)  # (..., S, 2)
            depth_order = np.broadcast_to(np.arange(len(self.shapes)), angles.shape)
        else:
            theta = self._orbit_phase + self._orbit_rate * t  # (..., S)
            trig = np.stack([np.sin(theta), np.cos(theta)], axis=-1)  # (..., S, 2)
            centres = self._orbit_centre + self._orbit_axes * trig  # (..., S, 2)
            velocities = (
                self._orbit_axes
                * self._orbit_rate[:, None]
                * np.stack([trig[..., 1], -trig[..., 0]], -1)
            )  # (..., S, 2)
            depth_order = np.argsort(centres[..., 0], axis=-1, kind="stable")  # (..., S)
        pan = np.mod(self._pan_velocity * t, self.config.size)  # (..., 2)
        return WorldState(centres, velocities, angles, depth_order, pan)

    def sprite_positions(self, t: ArrayLike) -> np.ndarray:
        """Sprite centres (y, x) in pixels: (S, 2) for a scalar t, else (*t.shape, S, 2)."""
        return self.state(t).centres

    def frame(self, t: int) -> np.ndarray:
        """Frame t as uint8 (size, size, 3) RGB."""
        return self.frames(t, 1)[0]

    def frames(self, start: int, count: int) -> np.ndarray:
        """Frames start .. start + count - 1 as uint8 (count, size, size, 3) RGB."""
        return self._render_frames(start, count, sprites=True)

    def background(self, start: int, count: int) -> np.ndarray:
        """Frames start .. start + count - 1 with every sprite left out: uint8 (count, size, size,
        3), equal to `frames` wherever no sprite covers a pixel. The best a prediction that
        erases the objects can do: the floor a foreground measure must be read against."""
        return self._render_frames(start, count, sprites=False)

    def _render_frames(self, start: int, count: int, sprites: bool) -> np.ndarray:
        n = self.config.size
        chunks = self._time_chunks(start, count)
        out = np.empty((count, n, n, 3), dtype=np.uint8)  # (T, n, n, 3)
        for lo, t in chunks:
            out[lo : lo + len(t)] = self._render(t, sprites)
        return out

    def _time_chunks(self, start: int, count: int) -> list[tuple[int, np.ndarray]]:
        """(offset, frame indices (T,)) of the batches frames are rendered in together."""
        if count < 0:
            raise ValueError(f"count={count} must be >= 0")
        chunk = max(1, _CHUNK_PIXELS // (self.config.size**2))
        return [
            (lo, np.arange(start + lo, start + min(count, lo + chunk), dtype=np.int64))
            for lo in range(0, count, chunk)
        ]

    def foreground(self, start: int, count: int) -> np.ndarray:
        """Sprite coverage of frames start .. start + count - 1: float32 (count, size, size) in
        [0, 1], the union of every sprite's anti-aliased alpha (1 inside a sprite, 0 on pure
        background), from the same closed form as the frames. `> 0.5` is the exact sprite mask
        (inside the outlines): what a prediction must keep, and what erasing the sprites loses.
        """
        n = self.config.size
        chunks = self._time_chunks(start, count)
        out = np.ones((count, n, n), dtype=np.float32)  # (T, n, n) uncovered fraction
        for lo, t in chunks:
            alpha, _, origin = self._sprite_layers(self.state(t))  # (T, S, B, B), _, (T, S, 2)
            uncovered = out[lo : lo + len(t)].reshape(-1)  # (T*n*n,) view
            for sprite in range(len(self.shapes)):
                index = self._box_index(origin, np.full(len(t), sprite))  # (T, B, B)
                uncovered[index] *= 1.0 - alpha[:, sprite]
        return 1.0 - out

    def _render(self, t: np.ndarray, sprites: bool = True) -> np.ndarray:
        state = self.state(t)
        if self._still is None:
            image = self._background(state.pan)  # (T, n, n, 3)
        else:
            image = np.repeat(self._still[None], len(t), axis=0)  # (T, n, n, 3)
        if sprites and self.shapes:
            self._composite(image, state)
        np.clip(image, 0.0, 1.0, out=image)
        return (image * 255.0 + 0.5).astype(np.uint8)  # (T, n, n, 3)

    def _background(self, pan: np.ndarray) -> np.ndarray:
        """Background displaced by pan (T, 2) pixels: (T, n, n, 3) float32, exact at any sub-pixel.

        Re(a * z) = Re(a) Re(z) - Im(a) Im(z) with a the row factor and z the column factor times
        the weight (the pan folded into it), so all waves of a frame are one real matrix product.
        It runs in einsum's own loop, not BLAS: a BLAS thread pool stalls (6x slower here) when the
        cores are busy, as they are while a model trains on these frames.
        """
        n, num = self.config.size, len(pan)
        weights = np.exp(-1j * (pan @ self._bg_omega.T))[..., None] * self._bg_weights  # (T, K, 3)
        z = weights[:, :, None, :] * self._bg_cols.T[None, :, :, None]  # (T, K, n, 3)
        cols = np.concatenate([z.real, z.imag], axis=1).astype(np.float32)  # (T, 2K, n, 3)
        waves = np.einsum("yk,tkx->tyx", self._bg_rows, cols.reshape(num, -1, 3 * n))  # (T, n, 3n)
        waves += np.tile(self._bg_base, n)  # adds the base per pixel, with a long inner loop
        return waves.reshape(num, n, n, 3)  # (T, n, n, 3)

    def _composite(self, image: np.ndarray, state: WorldState) -> None:
        """Alpha-blends the sprites into image (T, n, n, 3) in place, back to front."""
        alpha, shade, origin = self._sprite_layers(state)
        pixels = image.reshape(-1, 3)  # (T*n*n, 3) view: one flat index per pixel is fastest
        frames = np.arange(len(image))  # (T,)
        for layer in range(len(self.shapes)):
            sprite = state.depth_order[:, layer]  # (T,)
            index = self._box_index(origin, sprite)  # (T, B, B)
            a = alpha[frames, sprite][..., None]  # (T, B, B, 1)
            colour = self.colours[sprite][:, None, None, :] * shade[frames, sprite][..., None]
            patch = pixels[index]  # (T, B, B, 3)
            pixels[index] = patch + a * (colour - patch)

    def _box_index(self, origin: np.ndarray, sprite: np.ndarray) -> np.ndarray:
        """Flat pixel indices (T, B, B) into a (T, n, n) image of the box of sprite[t] (T,) in
        frame t, given the box origins (T, S, 2) of _sprite_layers."""
        n = self.config.size
        frames = np.arange(len(origin))  # (T,)
        offsets = np.arange(self._box)  # (B,)
        ys = origin[frames, sprite, 0][:, None] + offsets  # (T, B)
        xs = origin[frames, sprite, 1][:, None] + offsets  # (T, B)
        return (frames[:, None, None] * n + ys[:, :, None]) * n + xs[:, None, :]  # (T, B, B)

    def _sprite_layers(self, state: WorldState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coverage alpha (T, S, B, B), shading (T, S, B, B) and box origins (T, S, 2).

        Box side B = 2*ceil(r_max + 2) starting at floor(centre) - B/2 covers the sprite and its
        rim; clipping the box into the frame keeps that true because the centre stays >= r + 1
        from every wall.
        """
        n, box = self.config.size, self._box
        centres = state.centres  # (T, S, 2)
        origin = np.clip(np.floor(centres).astype(np.int64) - box // 2, 0, n - box)  # (T, S, 2)
        # Pixel centres relative to the sprite centre, exact in float64 before going to float32.
        rel = (origin[..., None] + np.arange(box) + 0.5 - centres[..., None]).astype(np.float32)
        dy, dx = rel[..., 0, :, None], rel[..., 1, None, :]  # (T, S, B, 1), (T, S, 1, B)
        cos = np.cos(state.angles).astype(np.float32)[..., None, None]  # (T, S, 1, 1)
        sin = np.sin(state.angles).astype(np.float32)[..., None, None]
        # Rotate the pixel grid by -angle so each shape is evaluated in its own upright frame.
        local_x = cos * dx + sin * dy  # (T, S, B, B)
        local_y = cos * dy - sin * dx  # (T, S, B, B)
        alpha = np.empty(local_x.shape, np.float32)  # (T, S, B, B)
        for s, (shape, radius) in enumerate(zip(self.shapes, self.radii, strict=True)):
            dist = _signed_distance(shape, local_x[:, s], local_y[:, s], np.float32(radius))
            edge = np.clip(0.5 - dist, 0.0, 1.0)  # (T, B, B)
            alpha[:, s] = edge * edge * (3.0 - 2.0 * edge)
        # A light-to-dark ramp across each sprite makes rotation visible even on a disc.
        inv_radius = (1.0 / self.radii).astype(np.float32)[:, None, None]  # (S, 1, 1)
        shade = 0.8 + 0.2 * np.clip(local_x * inv_radius, -1.0, 1.0)  # (T, S, B, B)
        return alpha, shade, origin


def _signed_distance(shape: str, x: np.ndarray, y: np.ndarray, r: np.float32) -> np.ndarray:
    """Signed distance in pixels (negative inside) to a shape of circumscribed radius r."""
    if shape == "disc":
        return np.hypot(x, y) - r
    if shape == "ring":
        return np.abs(np.hypot(x, y) - 0.7 * r) - 0.3 * r
    if shape == "cross":
        ax, ay = np.abs(x), np.abs(y)
        arm, half_width = r * np.float32(0.96), r * np.float32(0.3)
        return np.minimum(
            _box_distance(ax, ay, arm, half_width), _box_distance(ax, ay, half_width, arm)
        )
    points, inner = {"triangle": (3, 0.5), "square": (4, math.sqrt(0.5)), "star": (5, 0.45)}[shape]
    return _star_distance(x, y, r, points, inner)


def _box_distance(ax: np.ndarray, ay: np.ndarray, half_x: float, half_y: float) -> np.ndarray:
    qx, qy = ax - half_x, ay - half_y
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _star_distance(x: np.ndarray, y: np.ndarray, r: float, points: int, inner: float) -> np.ndarray:
    """Exact signed distance to a regular star with tips at radius r and notches at inner * r.

    A regular polygon is the star whose notches sit on its edges (inner = cos(pi / points)).
    Folding the plane by the star's mirror symmetries maps every point into the wedge
    0 <= angle <= pi / points, where the outline is the single segment tip -> notch.
    """
    sector = 2.0 * np.pi / points
    angle = np.abs(np.mod(np.arctan2(y, x) + sector / 2, sector) - sector / 2)
    rho = np.hypot(x, y)
    px, py = rho * np.cos(angle), rho * np.sin(angle)  # folded point
    edge_x = r * (inner * math.cos(sector / 2) - 1.0)  # segment from the tip (r, 0) to the notch
    edge_y = r * inner * math.sin(sector / 2)
    rel_x = px - r
    h = np.clip((rel_x * edge_x + py * edge_y) / (edge_x**2 + edge_y**2), 0.0, 1.0)
    dist = np.hypot(rel_x - h * edge_x, py - h * edge_y)
    inside = edge_x * py - edge_y * rel_x > 0  # left of tip -> notch, the side of the centre
    return np.where(inside, -dist, dist)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def make_world(family: str = "sprites", seed: int = 0, size: int = 64, **kwargs: object) -> World:
    """A World from keyword settings; ``kwargs`` are further WorldConfig fields."""
    return World(WorldConfig(family=family, seed=seed, size=size, **kwargs))
