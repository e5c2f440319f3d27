"""Frozen configuration dataclasses, which travel with every checkpoint as JSON, and every preset:
the one source of truth for the shipped model's architecture (SMALL) and the tests' (TINY)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

from stream.model.vae import TEMPORAL_FACTOR, VAEConfig

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
    # model that knows nothing repeats that frame instead of inventing texture
    # (docs/experiments/2026-11-29-predictor.md, "Residual flow", has the measurements).
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
    """How the model samples. Two kinds of field, each knob in one place:
    - session defaults (SESSION_DEFAULTS): what Engine.open uses when a session does not choose;
      a session's choice travels traced, in its SessionSettings (stream/runtime/chunk.py);
    - every other field is fixed per engine and compiled into its programs
      (stream/runtime/timeline.py reads them; the pixel filters are built from them,
      stream/filters)."""

    SESSION_DEFAULTS: ClassVar[tuple[str, ...]] = ("steps", "guidance_strength")

    steps: int = 4  # Euler steps of the flow ODE per chunk
    shift: float = 3.0  # timestep shift: >1 spends more steps at high noise
    guidance_strength: float = 1.0  # lambda of the guidance anchor's restoring force
    # Diffusion time at which committed context frames (all but the anchor z_0) enter the cache.
    # Training noises context to s ~ U(0, DiTObjective.context_noise) and keeps s = 0 for the
    # anchor alone, so to a model trained that way exactly clean context reads as more anchors
    # (docs/experiments/2026-11-22-context-noise.md has the measurement).
    context_noise: float = 0.1
    # Gate width of detail carry-over (stream/filters/detail.py) in [-1, 1] pixel units; 0 is off.
    detail_width: float = 0.0
    # Fraction of a prediction's change from the last real frame taken back where that gate is
    # open: changes that small are mostly flicker on unseen footage (stream/filters/detail.py).
    detail_snap: float = 0.0
    # Each chunk's generated change from the last latent frame before it is scaled by this: a
    # model that over-predicts change on footage it never saw predicts better shrunk towards
    # "no change" (docs/experiments/2026-11-29-predictor.md, "Change scale").
    change_scale: float = 1.0
    # Fit the change scale per session instead, on its own real frames: each real latent frame
    # is first predicted from the context before it (stream/runtime/backtest.py); change_scale
    # then serves only until the first test.
    fit_change_scale: bool = False
    # The guidance anchor's strength rises linearly over this many chunks generated since the
    # last real frame, reaching guidance_strength at the last; 0: full strength from the first.
    # Right after real frames there is no drift to restore, and the penalty (statistics against
    # z_0's) then only pulls a true continuation back towards the first frame.
    guidance_ramp_chunks: int = 0

    def __post_init__(self) -> None:
        if self.guidance_ramp_chunks < 0:
            raise ValueError(
                f"sampler.guidance_ramp_chunks={self.guidance_ramp_chunks} must be >= 0"
            )
        if not 0.0 <= self.context_noise < 1.0:
            raise ValueError(f"sampler.context_noise={self.context_noise} must be in [0, 1)")
        if not 0.0 <= self.detail_width <= 2.0:
            raise ValueError(f"sampler.detail_width={self.detail_width} must be in [0, 2]")
        if not 0.0 <= self.detail_snap <= 1.0:
            raise ValueError(f"sampler.detail_snap={self.detail_snap} must be in [0, 1]")
        if not 0.0 < self.change_scale <= 1.0:
            raise ValueError(f"sampler.change_scale={self.change_scale} must be in (0, 1]")


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


# The shipped model: a 2-core CPU trains it in hours and it stays far below the 50 MB budget.
# The VAE compresses 4x in space (16x16x8 latents per 4 frames of 64x64x3, 24x fewer numbers):
# at 8x (8x8x8, 96x fewer) the first model plateaued near 20 dB on worlds and 11 dB on real clips.
# Patch 4 gives the DiT 16 tokens per latent frame, so a teacher-forcing sequence of 12 + 10
# latent frames is 352 tokens. Its flow generates the change from the last latent frame: generating
# latents, the model's continuations lost to repeating that frame by 4-6 dB (issue 11).
SMALL = EngineConfig(
    image_size=64,
    vae=VAEConfig(latent_channels=8, base_channels=16, channel_mults=(1, 2, 4), shortcuts=True),
    dit=DiTConfig(
        latent_channels=8,
        latent_size=16,
        patch=4,
        dim=192,
        depth=6,
        heads=3,
        chunk_frames=2,
        window_frames=8,
        flow_space="residual",
    ),
    # Each sampler choice below was picked on clips and worlds held out of training and of the
    # model card: one Euler step, guidance 300 (it holds 64-chunk rollouts that strength 1 lets
    # fall apart), change scale 0.5 fitted per session after the first test, the guidance ramp
    # over 16 chunks, detail width 0.15 with snap 0.7 (the best whose motion stays within
    # [0.5, 2] of the truth's). docs/experiments/2026-11-29-predictor.md has what each did.
    sampler=SamplerConfig(
        steps=1,
        detail_width=0.15,
        detail_snap=0.7,
        guidance_strength=300.0,
        change_scale=0.5,
        fit_change_scale=True,
        guidance_ramp_chunks=16,
    ),
)

# For tests and CI: seconds per step.
TINY = EngineConfig(
    image_size=32,
    vae=VAEConfig(latent_channels=4, base_channels=8, channel_mults=(1, 2, 2, 2)),
    dit=DiTConfig(
        latent_channels=4,
        latent_size=4,
        dim=48,
        heads=2,
        depth=2,
        chunk_frames=2,
        window_frames=4,
        flow_space="residual",
    ),
)

PRESETS: dict[str, EngineConfig] = {"small": SMALL, "tiny": TINY}
