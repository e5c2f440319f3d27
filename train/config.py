"""Training configurations: frozen dataclasses written as JSON beside every run's checkpoints."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from stream.config import SMALL, EngineConfig


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    final_lr_fraction: float = 0.1  # cosine decays to this fraction of the peak
    weight_decay: float = 0.01
    clip_norm: float = 1.0  # global gradient norm


@dataclasses.dataclass(frozen=True)
class DataConfig:
    video_dir: str | None = None  # None: ../shared/data/video or $STREAM_VIDEO_DIR
    real_ratio: float = 0.3  # fraction of clips taken from real video, the rest from worlds
    threads: int = 2  # background threads preparing batches
    prefetch: int = 4  # batches prepared ahead (the bounded queue's depth)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What every run shares: the model, its optimiser, its data and its rhythm."""

    engine: EngineConfig = SMALL
    optim: OptimConfig = OptimConfig()
    data: DataConfig = DataConfig()
    steps: int = 20_000
    batch: int = 4
    seed: int = 0
    checkpoint_every: int = 200  # steps; also at least every checkpoint_minutes
    checkpoint_minutes: float = 5.0
    eval_every: int = 500
    keep_checkpoints: int = 3
    # A run directory of the same model whose latest parameters start this run (fine-tuning);
    # the optimiser starts afresh. Empty: start from the seed's random initialisation.
    init_from: str = ""


@dataclasses.dataclass(frozen=True)
class VAEObjective:
    # 1 + 4k pixel frames per clip: frame 0 alone, then groups of 4. Groups after the first
    # decode through conv caches filled by a group, not by frame 0: trained on 5 frames only,
    # they reconstructed ~7 dB worse than the first group (30.0 vs 22-23 dB on worlds).
    frames: int = 13
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    gradient_weight: float = 0.5  # L1 between spatial finite differences (edges)
    kl_weight: float = 1e-4

    def __post_init__(self) -> None:
        if self.frames < 5 or (self.frames - 1) % 4:
            raise ValueError(f"frames must be 1 + 4k, k >= 1 (5, 9, 13, ...), got {self.frames}")


@dataclasses.dataclass(frozen=True)
class DiTObjective:
    sequence_latents: int = 12  # latent frames per clip, longer than the window
    reuse: int = 2  # steps that train on one encoded batch (fresh noise each time)
    logit_normal_scale: float = 1.0  # block noise levels: sigmoid(N(0, scale)), then shifted
    context_noise: float = 0.1  # clean frames other than the anchor get s ~ U(0, this)
    anchor_drop: float = 0.3  # probability of training without the attention anchor
    full_window: float = 0.5  # probability of the full window, else uniform in 1..window
    # Share of clips whose context frames are the model's own clean estimates (a second pass):
    # generation conditions on its own frames, so chunk 2 onwards must be in distribution.
    own_context: float = 0.0


def to_json(config: Any) -> str:
    return json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True)


def from_dict(kind: type, raw: dict[str, Any]) -> Any:
    """Rebuild a (nested) frozen dataclass from its asdict form."""
    values = {}
    for field in dataclasses.fields(kind):
        if field.name not in raw:
            continue
        value = raw[field.name]
        if field.name == "engine":
            value = EngineConfig.from_dict(value)
        elif dataclasses.is_dataclass(field.default):
            value = from_dict(type(field.default), value)
        values[field.name] = value
    return kind(**values)


@dataclasses.dataclass(frozen=True)
class VAETraining:
    run: RunConfig = RunConfig()
    objective: VAEObjective = VAEObjective()
    # Train the decoder only: the latents stay bit for bit those of the init_from run, so a DiT
    # trained on them stays valid (export --vae-decoder puts such a decoder into a model).
    freeze_encoder: bool = False


@dataclasses.dataclass(frozen=True)
class DiTTraining:
    run: RunConfig = RunConfig()
    objective: DiTObjective = DiTObjective()
    vae: str = ""  # where the frozen VAE came from (a VAE run or a model folder)

    def __post_init__(self) -> None:
        # Inference commits context at this diffusion time: it must be one training showed.
        level, trained = self.run.engine.sampler.context_noise, self.objective.context_noise
        if level > trained:
            raise ValueError(
                f"sampler.context_noise={level} exceeds objective.context_noise={trained}: "
                "the model would be asked for context noise it never saw"
            )
