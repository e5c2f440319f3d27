"""Frozen configuration dataclasses; they travel with every checkpoint as JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from stream.vae import TEMPORAL_FACTOR, VAEConfig

FLOW_SPACES = ("latent", "residual")


@dataclasses.dataclass(frozen=True)
class DiTConfig:
    latent_channels: int = 8
    latent_size: int = 8  # latent frames are latent_size x latent_size positions
    patch: int = 1  # spatial patch over latent positions
    dim: int = 256
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    chunk_frames: int = 2  # latent frames generated together as one block
    window_frames: int = 16  # latent frames kept in the rolling KV window (the ring)
    rope_theta: float = 10_000.0
    # What the flow generates: "latent" (the chunk's latent frames), or "residual" (their change
    # from the last latent frame before the chunk, which the sampler adds back exactly), so a
    # model that knows nothing repeats that frame instead of inventing texture (README,
    # "Residual flow", has the measurements).
    flow_space: str = "latent"

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_size // self.patch) ** 2

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim={self.dim} must be divisible by heads={self.heads}")
        if self.head_dim % 2 or self.head_dim < 6:
            raise ValueError(
                f"head_dim={self.head_dim} must be even and >= 6 (3D rotary splits its "
                "rotation pairs between time, row and column)"
            )
        if self.flow_space not in FLOW_SPACES:
            raise ValueError(f"flow_space={self.flow_space!r} must be one of {FLOW_SPACES}")
        if self.latent_size % self.patch:
            raise ValueError(f"latent_size={self.latent_size} not divisible by patch={self.patch}")


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    steps: int = 4  # Euler steps of the flow ODE per chunk
    shift: float = 3.0  # timestep shift: >1 spends more steps at high noise
    guidance_strength: float = 1.0  # lambda of the guidance anchor's restoring force
    # Diffusion time at which committed context frames (all but the anchor z_0) enter the cache.
    # Training noises context to s ~ U(0, DiTObjective.context_noise) and keeps s = 0 for the
    # anchor alone, so to a model trained that way exactly clean context reads as more anchors
    # (README, "Context noise", has the measurement).
    context_noise: float = 0.1
    # Gate width of detail carry-over (stream/detail.py) in [-1, 1] pixel units; 0 is off.
    detail_width: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.context_noise < 1.0:
            raise ValueError(f"sampler.context_noise={self.context_noise} must be in [0, 1)")
        if not 0.0 <= self.detail_width <= 2.0:
            raise ValueError(f"sampler.detail_width={self.detail_width} must be in [0, 2]")


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    image_size: int = 64
    fps: float = 16.0
    vae: VAEConfig = dataclasses.field(default_factory=VAEConfig)
    dit: DiTConfig = dataclasses.field(default_factory=DiTConfig)
    sampler: SamplerConfig = dataclasses.field(default_factory=SamplerConfig)

    def __post_init__(self) -> None:
        factor = self.vae.spatial_factor
        if self.image_size % factor:
            raise ValueError(f"image_size={self.image_size} must be a multiple of {factor}")
        if self.dit.latent_size * factor != self.image_size:
            raise ValueError(
                f"dit.latent_size={self.dit.latent_size} must equal image_size/{factor}"
            )
        if self.dit.latent_channels != self.vae.latent_channels:
            raise ValueError("dit.latent_channels must equal vae.latent_channels")

    @property
    def frames_per_chunk(self) -> int:
        return self.dit.chunk_frames * TEMPORAL_FACTOR

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EngineConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EngineConfig:
        def build(kind: type, values: dict[str, Any]) -> Any:
            fields = {f.name for f in dataclasses.fields(kind)}
            unknown = set(values) - fields
            if unknown:
                raise ValueError(f"unknown {kind.__name__} fields {sorted(unknown)}")
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

        top = dict(raw)
        return build(
            cls,
            {
                **top,
                "vae": build(VAEConfig, top.get("vae", {})),
                "dit": build(DiTConfig, top.get("dit", {})),
                "sampler": build(SamplerConfig, top.get("sampler", {})),
            },
        )
