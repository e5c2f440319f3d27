"""An engine session as the wire sees it: opened from a SessionConfig, fed Frames, answering
FramesAccepted and Chunk messages.

Blocking and not thread-safe, like the engine's Session: the server calls it from its thread pool,
one call at a time. Every ValueError names the request field it is about, so the server can pass
it on as INVALID_ARGUMENT unchanged.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from serve.frames import array_to_frame, check_encoding, check_side, iter_frames
from serve.limits import MAX_GUIDANCE, Limits, echo
from serve.wire import stream_pb2 as pb
from stream import ANCHOR_MODES, DEFAULT_ANCHOR
from stream.media.frame_rate import FrameRateConverter, check_fps
from stream.media.video_io import resize_center_crop

if TYPE_CHECKING:  # the client imports seconds_to_frames from here without JAX
    from stream import Engine, PredictionError

MAX_EXTEND_FRAMES = 2**32 - 1  # what ExtendCommand.num_frames can say
_MESSAGE_OVERHEAD_BYTES = 4096  # field tags and the chunk's other fields, generously
# Frames decoded, and frames pushed at the model's rate, per step of a push: a cancelled call's
# thread is free within one step.
PUSH_STEP_FRAMES = 4


class Stopped(Exception):
    """The call a step belongs to was cancelled or ran out of time; the work was left unfinished."""


@contextlib.contextmanager
def naming(field: str) -> Iterator[None]:
    """Prefixes the engine's ValueErrors, which name its own arguments, with the request field."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{field}: {error}") from error


def model_info(engine: Engine) -> pb.ModelInfo:
    """What GetModelInfo says about the model (the server adds its own limits)."""
    config = engine.config
    return pb.ModelInfo(
        name=engine.name,
        image_size=config.image_size,
        fps=config.fps,
        frames_per_chunk=config.frames_per_chunk,
        latent_frames_per_chunk=config.dit.chunk_frames,
        window_latent_frames=config.dit.window_frames,
        default_steps=config.sampler.steps,
        default_guidance=config.sampler.guidance_strength,
        anchor_modes=list(ANCHOR_MODES),
        default_anchor=DEFAULT_ANCHOR,
        metrics=_numeric_leaves(engine.info.get("metrics", {})),
    )


def _numeric_leaves(tree: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(tree, dict):
        leaves: dict[str, float] = {}
        for key, value in tree.items():
            leaves.update(_numeric_leaves(value, f"{prefix}{key}."))
        return leaves
    if isinstance(tree, int | float) and not isinstance(tree, bool):
        return {prefix.rstrip("."): float(tree)}
    return {}  # text and lists are provenance, not metrics


def _prediction_error(error: PredictionError) -> pb.PredictionError:
    # The engine says NaN for a measure over no frames; the wire says 0 and the count says none.
    return pb.PredictionError(
        latent_frames=error.latent_frames,
        latent_norm=error.latent_norm if error.latent_frames else 0.0,
        latent_rms=error.latent_rms if error.latent_frames else 0.0,
        pixel_frames=error.pixel_frames,
        psnr_db=error.psnr_db if error.pixel_frames else 0.0,
    )


class WireSession:
    def __init__(
        self, engine: Engine, config: pb.SessionConfig, max_message_bytes: int, limits: Limits
    ):
        self.engine = engine
        self.limits = limits
        image_size = engine.config.image_size
        anchor = config.anchor or DEFAULT_ANCHOR
        if anchor not in ANCHOR_MODES:
            raise ValueError(
                f"config.anchor={echo(anchor)} is not an anchor mode; accepted: "
                f"{', '.join(ANCHOR_MODES)} (or empty for {DEFAULT_ANCHOR})"
            )
        if config.HasField("guidance") and not 0 <= config.guidance <= MAX_GUIDANCE:
            raise ValueError(
                f"config.guidance={config.guidance} is out of range; accepted: 0 to "
                f"{MAX_GUIDANCE:g} (or unset for the model's default)"
            )
        window_limit = engine.config.dit.window_frames
        if config.window_latent_frames > window_limit:
            raise ValueError(
                f"config.window_latent_frames={config.window_latent_frames} is out of range; "
                f"accepted: 1..{window_limit} (or 0 for {window_limit})"
            )
        self.output_encoding = check_encoding(config.output_encoding, "config.output_encoding")
        fps = engine.config.fps
        source_fps = check_fps(config.source_fps, "config.source_fps") if config.source_fps else fps
        self._frame_rate = FrameRateConverter(source_fps, fps)
        self.output_size = self._output_size(config, image_size, max_message_bytes)
        with naming("config"):
            self.session = engine.open(
                anchor=anchor,
                seed=config.seed,
                steps=config.steps or None,
                window=config.window_latent_frames or None,
                guidance=config.guidance if config.HasField("guidance") else None,
            )
        self._next_frame = 0  # index in the session's video of the next frame handed out

    def _output_size(
        self, config: pb.SessionConfig, image_size: int, max_message_bytes: int
    ) -> tuple[int, int]:
        if not config.output_width and not config.output_height:
            return image_size, image_size
        width = check_side(config.output_width, "config.output_width")
        height = check_side(config.output_height, "config.output_height")
        # Sizes are checked against raw RGB24 even for PNG/JPEG, whose size depends on content.
        chunk_bytes = self.engine.config.frames_per_chunk * width * height * 3
        if chunk_bytes + _MESSAGE_OVERHEAD_BYTES > max_message_bytes:
            raise ValueError(
                f"config.output_width={width} output_height={height}: a chunk of "
                f"{self.engine.config.frames_per_chunk} such frames is {chunk_bytes} bytes, more "
                f"than the server's max message size of {max_message_bytes} bytes; accepted: a "
                "smaller output size"
            )
        return height, width

    def ready(self) -> pb.SessionReady:
        session, config = self.session, self.engine.config
        height, width = self.output_size
        resolved = pb.SessionConfig(
            anchor=session.anchor,
            seed=session.seed,
            steps=session.steps,
            window_latent_frames=session.window,
            guidance=session.guidance,
            output_width=width,
            output_height=height,
            output_encoding=self.output_encoding or pb.FRAME_ENCODING_RGB24,
            source_fps=self._frame_rate.source_fps,
        )
        return pb.SessionReady(
            config=resolved,
            image_size=config.image_size,
            fps=config.fps,
            frames_per_chunk=config.frames_per_chunk,
        )

    def push_message(
        self, frames: pb.Frames, field: str, stop: threading.Event | None = None
    ) -> pb.FramesAccepted:
        """Decodes and pushes a Frames message PUSH_STEP_FRAMES frames at a time (any split
        gives the same session), raising Stopped between steps once `stop` is set."""
        limits = self.limits
        size = self.engine.config.image_size
        decoded = iter_frames(
            frames, field, size, limits.frames_per_message, limits.pixels_per_message
        )
        converted = self._frame_rate.pending_output(len(frames.items))
        if converted > limits.frames_per_message:
            raise ValueError(
                f"{field}.items: {len(frames.items)} frames at source_fps "
                f"{self._frame_rate.source_fps:g} become {converted} at the model's "
                f"{self._frame_rate.target_fps:g} fps; accepted: at most "
                f"{limits.frames_per_message} per message after conversion (the server's "
                "--max-frames-per-message)"
            )
        while True:
            if stop is not None and stop.is_set():
                raise Stopped(f"{field}: stopped after {self.session.frames_pushed} frames")
            step = list(itertools.islice(decoded, PUSH_STEP_FRAMES))
            if not step:
                return self.accepted()
            self.push(np.stack(step), stop)  # (<= PUSH_STEP_FRAMES, size, size, 3)

    def push(self, frames: np.ndarray, stop: threading.Event | None = None) -> None:
        """Real frames at the source rate, uint8 (N, H, W, 3), pushed PUSH_STEP_FRAMES frames at
        the model's rate at a time, raising Stopped between steps once `stop` is set: a source
        slower than the model repeats frames (at 1 fps, 4 source frames are 64 at 16 fps)."""
        frames = self._frame_rate(frames)  # (M, H, W, 3), M >= 0 at the model's fps
        try:
            for start in range(0, len(frames), PUSH_STEP_FRAMES):
                if stop is not None and stop.is_set():
                    raise Stopped(f"push: stopped after {self.session.frames_pushed} frames")
                with naming("frames"):
                    self.session.push(frames[start : start + PUSH_STEP_FRAMES])
        finally:
            self._next_frame = self.session.frames_pushed

    def frames_after(self, source_frames: int) -> int:
        """Frames the session will hold at the model's rate once source_frames more are pushed."""
        return self.session.frames_pushed + self._frame_rate.pending_output(source_frames)

    def accepted(self) -> pb.FramesAccepted:
        """How many frames are in (at the model's rate), and the live drift."""
        error = self.session.prediction_error
        return pb.FramesAccepted(
            frames_pushed=self.session.frames_pushed,
            latent_frames=self.session.latent_frames,
            prediction_error=None if error is None else _prediction_error(error),
        )

    def chunks(self, num_frames: int, field: str, skip: int = 0) -> Iterator[pb.Chunk]:
        """Checks the request now, then generates the frames chunk by chunk as it is iterated.

        The first `skip` frames are made but not handed out (a resumed job's client has them):
        a chunk made only for them comes without frames, one step like any other, so that a
        cancelled resume stops within a chunk.
        """
        check_generated(num_frames, field, self.limits)
        with naming(field):
            pieces = self.session.stream(num_frames)
        return self._chunks(pieces, num_frames, skip)

    def _chunks(
        self, pieces: Iterator[np.ndarray], num_frames: int, skip: int
    ) -> Iterator[pb.Chunk]:
        made = 0
        # Closed with this generator, not whenever collected: the engine counts a streaming
        # session as active (and its batcher waits for it) until its stream ends.
        with contextlib.closing(pieces):
            for piece in pieces:  # (n, S, S, 3), all from the chunk last_chunk describes
                info = self.session.last_chunk
                if not math.isfinite(info.anchor_penalty):
                    raise ValueError(
                        f"config.guidance={self.session.guidance:g}: the rollout diverged at "
                        f"chunk {info.index} (anchor penalty {info.anchor_penalty}); accepted: a "
                        "smaller guidance"
                    )
                made += len(piece)
                unsent = min(max(skip - (made - len(piece)), 0), len(piece))
                self._next_frame += unsent
                yield pb.Chunk(
                    chunk_index=info.index,
                    first_frame_index=self._next_frame,
                    frames=[self._to_wire(frame) for frame in piece[unsent:]],
                    latency_ms=info.latency_ms,
                    anchor_penalty=info.anchor_penalty,
                    last_of_request=made == num_frames,
                )
                self._next_frame += len(piece) - unsent

    def _to_wire(self, frame: np.ndarray) -> pb.Frame:
        return array_to_frame(resize_center_crop(frame, *self.output_size), self.output_encoding)


def check_generated(num_frames: int, field: str, limits: Limits) -> int:
    if not 1 <= num_frames <= limits.generated_frames:
        raise ValueError(
            f"{field}={num_frames} is out of range; accepted: 1..{limits.generated_frames} (the "
            "server's --max-generated-frames)"
        )
    return num_frames


def seconds_to_frames(seconds: float, fps: float, field: str) -> int:
    """Whole frames covering `seconds` at `fps` (rounded up, so the length asked for is reached)."""
    longest = MAX_EXTEND_FRAMES / fps
    if not math.isfinite(seconds) or not 0 < seconds <= longest:
        raise ValueError(f"{field}={seconds} is out of range; accepted: > 0 and <= {longest:.0f}")
    # Rounding first keeps 2 s at 16 fps at 32 frames despite 2.0 * 16 carrying float error.
    return max(1, math.ceil(round(seconds * fps, 6)))
