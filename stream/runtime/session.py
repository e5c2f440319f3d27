"""A streaming session: push real frames, extend with predicted ones, for as long as wanted.

State is two timelines of explicit, immutable JAX state:
- the real one (encoder state, KV cache and decoder state built from pushed frames only);
- a prediction forked from it by `extend`, continued by later `extend` calls.
A `push` after an extension measures the prediction against the real frames and drops the
prediction: the session always continues from what really happened.

Frames pushed are buffered into the encoder's groups (frame 0 alone, then 4 at a time); a group
conditions the model once it is complete, so any chunking of the same frames gives the same
result. An extension starts after the last pushed frame.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any, Protocol

import jax
import numpy as np

from stream.config import EngineConfig
from stream.media.frame_rate import FrameRateConverter, check_fps
from stream.media.video_io import resize_center_crop
from stream.metrics import psnr_from_mse
from stream.model.vae import TEMPORAL_FACTOR
from stream.runtime.anchor import uses_attention, uses_guidance
from stream.runtime.batcher import Batcher
from stream.runtime.chunk import MAX_STEPS, SessionSettings, session_settings
from stream.runtime.timeline import Chunk, Timeline

# Predicted frames kept to score the prediction once real frames arrive (bounded memory).
MAX_SCORED_LATENTS = 64
MAX_SEED = 2**32 - 1  # JAX keys hold 32 bits of a seed: larger seeds would repeat smaller ones


@dataclasses.dataclass(frozen=True)
class ChunkInfo:
    """The piece `stream` yielded last and the chunk it came from (a piece is a whole chunk, or
    part of one when an extension asks for fewer frames than a chunk holds)."""

    index: int  # chunk number within the session's predictions, from 0
    first_frame: int  # pixel index (in the session's video) of the piece's first frame
    num_frames: int  # frames of the piece
    latency_ms: float  # wall time to denoise, commit and decode the chunk
    anchor_penalty: float  # mean C(z_t, z_0) over the chunk's latent frames


@dataclasses.dataclass(frozen=True)
class PredictionError:
    """How far the last prediction was from the real frames pushed after it."""

    latent_frames: int  # latent frames compared
    latent_norm: float  # mean over those frames of ||z_pred - z_real|| (L2 over the frame)
    latent_rms: float  # root mean square of z_pred - z_real per element
    pixel_frames: int  # pixel frames compared
    psnr_db: float  # PSNR of predicted against real pixels (inf if identical)


@dataclasses.dataclass
class _Prediction:
    timeline: Timeline  # forked from the real one, continued by every chunk
    next_latent: int  # latent index of the timeline's next frame
    next_frame: int  # pixel index of the frame after the last one generated
    ready: list[np.ndarray]  # generated frames not yet handed out, in order
    chunk: ChunkInfo | None  # the last chunk generated, its piece being all its new frames
    latents: dict[int, np.ndarray]  # latent index -> predicted latent (h, w, C), for scoring
    pixels: dict[int, np.ndarray]  # pixel index -> predicted frame, for scoring


@dataclasses.dataclass
class _Score:
    latent_sq: list[float] = dataclasses.field(default_factory=list)
    latent_elements: int = 0
    pixel_sq_sum: float = 0.0
    pixel_count: int = 0
    pixel_frames: int = 0

    def result(self) -> PredictionError:
        n = len(self.latent_sq)
        norms = np.sqrt(self.latent_sq)
        mse = self.pixel_sq_sum / self.pixel_count if self.pixel_count else float("nan")
        return PredictionError(
            latent_frames=n,
            latent_norm=float(norms.mean()) if n else float("nan"),
            latent_rms=float(np.sqrt(sum(self.latent_sq) / self.latent_elements))
            if n
            else float("nan"),
            pixel_frames=self.pixel_frames,
            psnr_db=psnr_from_mse(mse),
        )


def _check_frames(frames: Any) -> np.ndarray:
    if not hasattr(frames, "dtype") or not hasattr(frames, "shape"):
        raise ValueError(
            f"frames must be a numpy array of uint8 RGB frames (N, H, W, 3); got "
            f"{type(frames).__name__}"
        )
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must have dtype uint8 (RGB 0..255); got dtype {frames.dtype}")
    if frames.ndim != 4:
        hint = " (wrap a single frame as frames[None])" if frames.ndim == 3 else ""
        raise ValueError(f"frames must have rank 4, (N, H, W, 3); got shape {frames.shape}{hint}")
    if frames.shape[-1] != 3:
        raise ValueError(
            f"frames must have 3 channels (RGB) in the last axis; got shape {frames.shape}"
        )
    if 0 in frames.shape:
        raise ValueError(f"frames must be non-empty (N, H, W >= 1); got shape {frames.shape}")
    return frames


def _check_count(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < low or (high is not None and value > high):
        accepted = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name}={value} is out of range; accepted: {accepted}")
    return int(value)


class Runtime(Protocol):
    """What a session needs of its engine (stream.runtime.engine.Engine is one)."""

    config: EngineConfig
    batcher: Batcher

    def new_encoder_state(self) -> Any: ...

    def new_timeline(self) -> Timeline: ...

    def push(
        self, encoder: Any, timeline: Timeline, frames: np.ndarray, settings: SessionSettings
    ) -> tuple[jax.Array, Any, Timeline]: ...

    def generate(self, timeline: Timeline, settings: SessionSettings) -> tuple[Chunk, Timeline]: ...


class Session:
    """Created by Engine.open; not thread-safe (one caller at a time)."""

    def __init__(
        self,
        engine: Runtime,
        anchor: str,
        seed: int,
        steps: int | None,
        window: int | None,
        guidance: float | None,
    ):
        config = engine.config
        self.engine = engine
        self.anchor = anchor
        self.seed = _check_count("seed", seed, 0, MAX_SEED)
        self.steps = _check_count(
            "steps", config.sampler.steps if steps is None else steps, 1, MAX_STEPS
        )
        limit = config.dit.window_frames
        self.window = _check_count("window", limit if window is None else window, 1, limit)
        strength = config.sampler.guidance_strength if guidance is None else guidance
        if not np.isfinite(strength) or strength < 0:
            raise ValueError(f"guidance={guidance!r} must be a finite number >= 0")
        self.guidance = float(strength) if uses_guidance(anchor) else 0.0
        self._settings = session_settings(
            self.window,
            uses_attention(anchor),
            self.guidance,
            self.seed,
            self.steps,
            config.sampler,
        )

        self.frames_pushed = 0
        self.chunks_generated = 0
        self.last_chunk: ChunkInfo | None = None
        self._pending: list[np.ndarray] = []  # pushed frames waiting for a complete group
        self._frame_rate: FrameRateConverter | None = None  # of the pushes at the last fps
        self._encoder = engine.new_encoder_state()
        self._real = engine.new_timeline()  # built from pushed frames only
        self._latent_count = 0
        self._prediction: _Prediction | None = None
        self._scored: _Prediction | None = None  # the last prediction, kept for scoring
        self._score: _Score | None = None

    # Public API

    @property
    def prediction_error(self) -> PredictionError | None:
        """Error of the last prediction against the real frames pushed since it was made."""
        return None if self._score is None else self._score.result()

    @property
    def latent_frames(self) -> int:
        """Real latent frames committed so far."""
        return self._latent_count

    def push(self, frames: np.ndarray, fps: float | None = None) -> None:
        """Append real frames, uint8 (N, H, W, 3) of any size (resized and centre-cropped), shot
        at fps frames per second (None: the model's). Frames at another rate are resampled to
        the model's as the wire's source_fps is (each model frame takes the frame nearest in
        time), so motion keeps its speed; pushes at one rate in any split give the same frames,
        and a push at another rate starts that rate's clock anew."""
        frames = self._resampled(_check_frames(frames), fps)
        if not len(frames):
            return  # a downsampled push may give no frame at the model's rate yet
        frames = self._prepare(frames)
        if self._prediction is not None:
            self._scored, self._prediction, self._score = self._prediction, None, _Score()
        with self.engine.batcher.active():
            for frame in frames:
                self._score_pixel(self.frames_pushed, frame)
                self.frames_pushed += 1
                self._pending.append(frame)
                group = 1 if self._latent_count == 0 else TEMPORAL_FACTOR
                if len(self._pending) == group:
                    self._encode_pending()

    def extend(self, num_frames: int) -> np.ndarray:
        """Predict the next num_frames frames, uint8 (num_frames, S, S, 3)."""
        return np.concatenate(list(self.stream(num_frames)), axis=0)

    def stream(self, num_frames: int) -> Iterator[np.ndarray]:
        """The frames of extend(num_frames), yielded chunk by chunk as they are made.

        Each yielded piece comes from exactly one generated chunk, and `last_chunk` describes
        the piece (its first frame and length) and that chunk when the piece is yielded. The
        first chunk after a push that left frames waiting for a complete group of 4 skips those
        frames (they were pushed, so they are not predicted), so it yields fewer than
        frames_per_chunk frames.
        """
        num_frames = _check_count("num_frames", num_frames, 1)
        if self._latent_count == 0:
            raise ValueError("extend before any push: push at least one frame first")
        return self._stream(num_frames)

    # Internals

    def _resampled(self, frames: np.ndarray, fps: float | None) -> np.ndarray:
        """frames at fps -> the frames at the model's rate they give, (M, H, W, 3), M >= 0."""
        if fps is None:
            self._frame_rate = None
            return frames
        fps = check_fps(fps, "fps")
        if self._frame_rate is None or self._frame_rate.source_fps != fps:
            self._frame_rate = FrameRateConverter(fps, self.engine.config.fps)
        return self._frame_rate(frames)

    def _prepare(self, frames: np.ndarray) -> np.ndarray:
        size = self.engine.config.image_size
        if frames.shape[1:3] == (size, size):
            return frames
        return np.stack([resize_center_crop(f, size, size) for f in frames])  # (N, S, S, 3)

    def _encode_pending(self) -> None:
        frames = np.stack(self._pending)[None]  # (1, G, S, S, 3)
        self._pending = []
        # Decoding each real latent as it comes (inside push) keeps the first extension after
        # minutes of pushing as fast as any other.
        latent, self._encoder, self._real = self.engine.push(
            self._encoder, self._real, frames, self._settings
        )  # latent (1, 1, h, w, C)
        self._score_latent(self._latent_count, latent)
        self._latent_count += 1

    def _score_pixel(self, index: int, frame: np.ndarray) -> None:
        predicted = None if self._scored is None else self._scored.pixels.get(index)
        if predicted is not None:
            diff = predicted.astype(np.float64) - frame
            self._score.pixel_sq_sum += float((diff**2).sum())
            self._score.pixel_count += diff.size
            self._score.pixel_frames += 1

    def _score_latent(self, index: int, latent: jax.Array) -> None:
        predicted = None if self._scored is None else self._scored.latents.get(index)
        if predicted is not None:
            diff = predicted - np.asarray(latent[0, 0])
            self._score.latent_sq.append(float((diff.astype(np.float64) ** 2).sum()))
            self._score.latent_elements += diff.size

    def _fork(self) -> _Prediction:
        """Start a prediction from the real timeline."""
        return _Prediction(
            timeline=self._real,  # immutable: the fork shares it until a chunk moves on
            next_latent=self._latent_count,
            next_frame=self.frames_pushed,
            ready=[],
            chunk=None,
            latents={},
            pixels={},
        )

    def _stream(self, num_frames: int) -> Iterator[np.ndarray]:
        if self._prediction is None:
            self._prediction = self._fork()
        prediction = self._prediction
        with self.engine.batcher.active():
            while num_frames > 0:
                if not prediction.ready:
                    self._generate_chunk(prediction)
                first = prediction.next_frame - len(prediction.ready)
                out = prediction.ready[:num_frames]
                prediction.ready = prediction.ready[num_frames:]
                num_frames -= len(out)
                self.last_chunk = dataclasses.replace(
                    prediction.chunk, first_frame=first, num_frames=len(out)
                )
                yield np.stack(out)

    def _generate_chunk(self, prediction: _Prediction) -> None:
        started = time.perf_counter()
        first_latent = prediction.next_latent
        chunk, prediction.timeline = self.engine.generate(prediction.timeline, self._settings)
        pixels = np.asarray(chunk.pixels)  # (4F, S, S, 3)
        latents = np.asarray(chunk.latents)[0]  # (F, h, w, C)
        prediction.next_latent += len(latents)

        # Latent j >= 1 decodes to pixel frames 4j-3 .. 4j; frames already pushed are skipped.
        first_pixel = TEMPORAL_FACTOR * first_latent - (TEMPORAL_FACTOR - 1)
        keep = [
            (first_pixel + i, frame)
            for i, frame in enumerate(pixels)
            if first_pixel + i >= prediction.next_frame
        ]
        if len(prediction.latents) < MAX_SCORED_LATENTS:
            for f, latent in enumerate(latents):
                prediction.latents[first_latent + f] = latent
            for index, frame in keep:
                prediction.pixels[index] = frame
        prediction.ready.extend(frame for _, frame in keep)
        if keep:
            prediction.next_frame = keep[-1][0] + 1
        prediction.chunk = ChunkInfo(
            index=self.chunks_generated,
            first_frame=keep[0][0] if keep else prediction.next_frame,
            num_frames=len(keep),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            anchor_penalty=float(np.asarray(chunk.anchor_penalty).mean()),
        )
        self.chunks_generated += 1
