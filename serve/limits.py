"""How much work one request may cause, checked before the work is paid for.

A message's byte size alone bounds little: 330 KB of 1x1 RGB24 frames is 30,000 frames to resize and
encode, and a few KB of PNG or H.264 can declare pictures of gigabytes. So frames and decoded pixels
are counted per message and per job, generated frames per request, and calls are bounded in time.
Every default keeps one request of the largest message within seconds of CPU time and hundreds of
MiB (docs/experiments/2026-11-29-serving.md has the measurements); an operator changes them with
`stream serve` flags, and ModelInfo tells clients which are in force.
"""

from __future__ import annotations

import dataclasses

MAX_FRAME_SIDE = 4096  # pixels per side of any input frame or video picture
# SessionConfig.guidance. The shipped model's is 300; its explicit Euler step holds up to here and
# diverges above (measured: at 1e4 the anchor penalty grows x70 per chunk, at 1e6 it is NaN).
MAX_GUIDANCE = 1000.0
ECHO_CHARS = 64  # longest piece of a client's text repeated in an error message

DEFAULT_FRAMES_PER_MESSAGE = 256
DEFAULT_PIXELS_PER_MESSAGE = (
    2**25
)  # 2 frames of 4096x4096, 16 of 1080p: any RGB24 message of 64 MiB
DEFAULT_JOB_FRAMES = 4096  # input frames of an Extend job, as decoded (before resampling)
DEFAULT_JOB_PIXELS = 2**30  # 64 frames of 4096x4096, 512 of 1080p
DEFAULT_GENERATED_FRAMES = 16_384  # per ExtendCommand or job: 17 minutes at 16 fps
DEFAULT_IDLE_SECONDS = 60.0
DEFAULT_CALL_SECONDS = 3600.0


@dataclasses.dataclass(frozen=True)
class Limits:
    frames_per_message: int = DEFAULT_FRAMES_PER_MESSAGE  # frames in one Frames message
    pixels_per_message: int = DEFAULT_PIXELS_PER_MESSAGE  # decoded pixels in one Frames message
    job_frames: int = DEFAULT_JOB_FRAMES  # input frames of one Extend job
    job_pixels: int = DEFAULT_JOB_PIXELS  # decoded input pixels of one Extend job
    generated_frames: int = DEFAULT_GENERATED_FRAMES  # frames one request may ask for
    idle_seconds: float = DEFAULT_IDLE_SECONDS  # a session waiting this long for a request ends
    call_seconds: float = DEFAULT_CALL_SECONDS  # any session or job ends after this long

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not value > 0:
                raise ValueError(f"limits.{field.name}={value} is out of range; accepted: > 0")


def echo(text: str) -> str:
    """A client's text as an error message repeats it: quoted, and cut to ECHO_CHARS characters,
    so that the error stays small whatever was sent."""
    if len(text) <= ECHO_CHARS:
        return repr(text)
    return f"{text[:ECHO_CHARS]!r}... ({len(text)} characters)"
