from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FrameEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_ENCODING_UNSPECIFIED: _ClassVar[FrameEncoding]
    FRAME_ENCODING_RGB24: _ClassVar[FrameEncoding]
    FRAME_ENCODING_PNG: _ClassVar[FrameEncoding]
    FRAME_ENCODING_JPEG: _ClassVar[FrameEncoding]
FRAME_ENCODING_UNSPECIFIED: FrameEncoding
FRAME_ENCODING_RGB24: FrameEncoding
FRAME_ENCODING_PNG: FrameEncoding
FRAME_ENCODING_JPEG: FrameEncoding

class Frame(_message.Message):
    __slots__ = ("width", "height", "encoding", "data")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    encoding: FrameEncoding
    data: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., encoding: _Optional[_Union[FrameEncoding, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Frames(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Frame]
    def __init__(self, items: _Optional[_Iterable[_Union[Frame, _Mapping]]] = ...) -> None: ...

class SessionConfig(_message.Message):
    __slots__ = ("anchor", "seed", "steps", "window_latent_frames", "guidance", "output_width", "output_height", "output_encoding", "source_fps")
    ANCHOR_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_LATENT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FPS_FIELD_NUMBER: _ClassVar[int]
    anchor: str
    seed: int
    steps: int
    window_latent_frames: int
    guidance: float
    output_width: int
    output_height: int
    output_encoding: FrameEncoding
    source_fps: float
    def __init__(self, anchor: _Optional[str] = ..., seed: _Optional[int] = ..., steps: _Optional[int] = ..., window_latent_frames: _Optional[int] = ..., guidance: _Optional[float] = ..., output_width: _Optional[int] = ..., output_height: _Optional[int] = ..., output_encoding: _Optional[_Union[FrameEncoding, str]] = ..., source_fps: _Optional[float] = ...) -> None: ...

class ExtendCommand(_message.Message):
    __slots__ = ("num_frames",)
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    num_frames: int
    def __init__(self, num_frames: _Optional[int] = ...) -> None: ...

class SessionRequest(_message.Message):
    __slots__ = ("config", "frames", "extend")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    EXTEND_FIELD_NUMBER: _ClassVar[int]
    config: SessionConfig
    frames: Frames
    extend: ExtendCommand
    def __init__(self, config: _Optional[_Union[SessionConfig, _Mapping]] = ..., frames: _Optional[_Union[Frames, _Mapping]] = ..., extend: _Optional[_Union[ExtendCommand, _Mapping]] = ...) -> None: ...

class SessionReady(_message.Message):
    __slots__ = ("config", "image_size", "fps", "frames_per_chunk")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_PER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    config: SessionConfig
    image_size: int
    fps: float
    frames_per_chunk: int
    def __init__(self, config: _Optional[_Union[SessionConfig, _Mapping]] = ..., image_size: _Optional[int] = ..., fps: _Optional[float] = ..., frames_per_chunk: _Optional[int] = ...) -> None: ...

class PredictionError(_message.Message):
    __slots__ = ("latent_frames", "latent_norm", "latent_rms", "pixel_frames", "psnr_db")
    LATENT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    LATENT_NORM_FIELD_NUMBER: _ClassVar[int]
    LATENT_RMS_FIELD_NUMBER: _ClassVar[int]
    PIXEL_FRAMES_FIELD_NUMBER: _ClassVar[int]
    PSNR_DB_FIELD_NUMBER: _ClassVar[int]
    latent_frames: int
    latent_norm: float
    latent_rms: float
    pixel_frames: int
    psnr_db: float
    def __init__(self, latent_frames: _Optional[int] = ..., latent_norm: _Optional[float] = ..., latent_rms: _Optional[float] = ..., pixel_frames: _Optional[int] = ..., psnr_db: _Optional[float] = ...) -> None: ...

class FramesAccepted(_message.Message):
    __slots__ = ("frames_pushed", "latent_frames", "prediction_error")
    FRAMES_PUSHED_FIELD_NUMBER: _ClassVar[int]
    LATENT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_ERROR_FIELD_NUMBER: _ClassVar[int]
    frames_pushed: int
    latent_frames: int
    prediction_error: PredictionError
    def __init__(self, frames_pushed: _Optional[int] = ..., latent_frames: _Optional[int] = ..., prediction_error: _Optional[_Union[PredictionError, _Mapping]] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("chunk_index", "first_frame_index", "frames", "latency_ms", "anchor_penalty", "last_of_request")
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_INDEX_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_PENALTY_FIELD_NUMBER: _ClassVar[int]
    LAST_OF_REQUEST_FIELD_NUMBER: _ClassVar[int]
    chunk_index: int
    first_frame_index: int
    frames: _containers.RepeatedCompositeFieldContainer[Frame]
    latency_ms: float
    anchor_penalty: float
    last_of_request: bool
    def __init__(self, chunk_index: _Optional[int] = ..., first_frame_index: _Optional[int] = ..., frames: _Optional[_Iterable[_Union[Frame, _Mapping]]] = ..., latency_ms: _Optional[float] = ..., anchor_penalty: _Optional[float] = ..., last_of_request: _Optional[bool] = ...) -> None: ...

class SessionResponse(_message.Message):
    __slots__ = ("ready", "accepted", "chunk")
    READY_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    ready: SessionReady
    accepted: FramesAccepted
    chunk: Chunk
    def __init__(self, ready: _Optional[_Union[SessionReady, _Mapping]] = ..., accepted: _Optional[_Union[FramesAccepted, _Mapping]] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ...) -> None: ...

class ExtendRequest(_message.Message):
    __slots__ = ("video", "frames", "num_frames", "seconds", "config")
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    NUM_FRAMES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    video: bytes
    frames: Frames
    num_frames: int
    seconds: float
    config: SessionConfig
    def __init__(self, video: _Optional[bytes] = ..., frames: _Optional[_Union[Frames, _Mapping]] = ..., num_frames: _Optional[int] = ..., seconds: _Optional[float] = ..., config: _Optional[_Union[SessionConfig, _Mapping]] = ...) -> None: ...

class ExtendSummary(_message.Message):
    __slots__ = ("input_frames", "generated_frames", "chunks", "fps", "wall_ms", "mean_chunk_latency_ms", "max_chunk_latency_ms")
    INPUT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    WALL_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_CHUNK_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    input_frames: int
    generated_frames: int
    chunks: int
    fps: float
    wall_ms: float
    mean_chunk_latency_ms: float
    max_chunk_latency_ms: float
    def __init__(self, input_frames: _Optional[int] = ..., generated_frames: _Optional[int] = ..., chunks: _Optional[int] = ..., fps: _Optional[float] = ..., wall_ms: _Optional[float] = ..., mean_chunk_latency_ms: _Optional[float] = ..., max_chunk_latency_ms: _Optional[float] = ...) -> None: ...

class ExtendJob(_message.Message):
    __slots__ = ("job_id", "generated_frames", "from_frame")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    FROM_FRAME_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    generated_frames: int
    from_frame: int
    def __init__(self, job_id: _Optional[str] = ..., generated_frames: _Optional[int] = ..., from_frame: _Optional[int] = ...) -> None: ...

class ExtendResponse(_message.Message):
    __slots__ = ("chunk", "summary", "job")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    chunk: Chunk
    summary: ExtendSummary
    job: ExtendJob
    def __init__(self, chunk: _Optional[_Union[Chunk, _Mapping]] = ..., summary: _Optional[_Union[ExtendSummary, _Mapping]] = ..., job: _Optional[_Union[ExtendJob, _Mapping]] = ...) -> None: ...

class ResumeExtendRequest(_message.Message):
    __slots__ = ("job_id", "from_frame")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FRAME_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    from_frame: int
    def __init__(self, job_id: _Optional[str] = ..., from_frame: _Optional[int] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "image_size", "fps", "frames_per_chunk", "latent_frames_per_chunk", "window_latent_frames", "default_steps", "default_guidance", "anchor_modes", "default_anchor", "metrics", "max_message_bytes", "max_sessions", "max_frames_per_message", "max_pixels_per_message", "max_job_frames", "max_job_pixels", "max_frame_side", "max_generated_frames", "max_guidance", "video_formats", "idle_timeout_seconds", "max_call_seconds", "job_ttl_seconds")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_PER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    LATENT_FRAMES_PER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    WINDOW_LATENT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_STEPS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_MODES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ANCHOR_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_PER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_PIXELS_PER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_JOB_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_JOB_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAME_SIDE_FIELD_NUMBER: _ClassVar[int]
    MAX_GENERATED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FORMATS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_CALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    JOB_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    image_size: int
    fps: float
    frames_per_chunk: int
    latent_frames_per_chunk: int
    window_latent_frames: int
    default_steps: int
    default_guidance: float
    anchor_modes: _containers.RepeatedScalarFieldContainer[str]
    default_anchor: str
    metrics: _containers.ScalarMap[str, float]
    max_message_bytes: int
    max_sessions: int
    max_frames_per_message: int
    max_pixels_per_message: int
    max_job_frames: int
    max_job_pixels: int
    max_frame_side: int
    max_generated_frames: int
    max_guidance: float
    video_formats: _containers.RepeatedScalarFieldContainer[str]
    idle_timeout_seconds: float
    max_call_seconds: float
    job_ttl_seconds: float
    def __init__(self, name: _Optional[str] = ..., image_size: _Optional[int] = ..., fps: _Optional[float] = ..., frames_per_chunk: _Optional[int] = ..., latent_frames_per_chunk: _Optional[int] = ..., window_latent_frames: _Optional[int] = ..., default_steps: _Optional[int] = ..., default_guidance: _Optional[float] = ..., anchor_modes: _Optional[_Iterable[str]] = ..., default_anchor: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., max_message_bytes: _Optional[int] = ..., max_sessions: _Optional[int] = ..., max_frames_per_message: _Optional[int] = ..., max_pixels_per_message: _Optional[int] = ..., max_job_frames: _Optional[int] = ..., max_job_pixels: _Optional[int] = ..., max_frame_side: _Optional[int] = ..., max_generated_frames: _Optional[int] = ..., max_guidance: _Optional[float] = ..., video_formats: _Optional[_Iterable[str]] = ..., idle_timeout_seconds: _Optional[float] = ..., max_call_seconds: _Optional[float] = ..., job_ttl_seconds: _Optional[float] = ...) -> None: ...
