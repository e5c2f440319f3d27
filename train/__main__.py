"""python -m train vae|dit|motion|export: train the engine's models, resume them, ship them.

  python -m train vae --run-dir runs/vae
  python -m train dit --run-dir runs/dit --vae runs/vae
  python -m train motion --run-dir runs/motion
  python -m train export --dit-run runs/dit --out stream/assets/default_model

A run directory holds train_config.json, metrics.jsonl and Orbax checkpoints; running the same
command again resumes from the latest checkpoint (the saved config wins; --steps may extend it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from stream.config import PRESETS
from stream.media.clips import default_video_dir
from train.checkpointing import RunDirectory
from train.config import (
    DiTTraining,
    MotionTraining,
    OptimConfig,
    VAETraining,
    from_dict,
    to_json,
)


def _common_options(parser: argparse.ArgumentParser, default_steps: int, default_lr: float):
    parser.add_argument("--run-dir", required=True, help="where checkpoints and metrics go")
    parser.add_argument(
        "--config", choices=sorted(PRESETS), default="small", help="model size (default small)"
    )
    parser.add_argument("--steps", type=int, help=f"total steps (default {default_steps})")
    parser.add_argument("--batch", type=int, help="global batch, a multiple of the devices")
    parser.add_argument("--lr", type=float, help=f"peak learning rate (default {default_lr})")
    parser.add_argument("--warmup", type=int, help="warm-up steps (default 200)")
    parser.add_argument("--seed", type=int, help="seed of data, noise and init (default 0)")
    parser.add_argument("--real-ratio", type=float, help="fraction of real clips (default 0.3)")
    parser.add_argument("--video-dir", help="folder of real clips (default ../shared/data/video)")
    parser.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    parser.add_argument("--checkpoint-minutes", type=float, help="at most this long between")
    parser.add_argument("--eval-every", type=int, help="steps between evaluations")
    parser.add_argument(
        "--init-from",
        metavar="RUN_DIR_OR_MODEL",
        help="start from this run's latest parameters, or a model folder's (same shapes; fresh "
        "optimiser): fine-tuning",
    )
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="continue from the run directory's latest checkpoint (default on)",
    )


def _run_config(args: argparse.Namespace, base, default_steps: int, default_lr: float):
    run = base.run
    optim = OptimConfig(
        learning_rate=args.lr or default_lr,
        warmup_steps=args.warmup if args.warmup is not None else run.optim.warmup_steps,
    )
    data = dataclasses.replace(
        run.data,
        video_dir=args.video_dir,
        real_ratio=args.real_ratio if args.real_ratio is not None else run.data.real_ratio,
    )
    overrides = {
        "steps": args.steps or default_steps,
        "batch": args.batch,
        "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
        "checkpoint_minutes": args.checkpoint_minutes,
        "eval_every": args.eval_every,
        "init_from": str(Path(args.init_from).absolute()) if args.init_from else None,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    run = dataclasses.replace(run, engine=PRESETS[args.config], optim=optim, data=data, **overrides)
    return dataclasses.replace(base, run=run)


def _open_run(args: argparse.Namespace, kind: type, fresh):
    """The run directory and its config: the saved one when resuming, else a fresh one."""
    directory = RunDirectory(args.run_dir)
    saved = directory.config_file.exists() and directory.latest_step() is not None
    if saved and not args.resume:
        sys.exit(f"{args.run_dir} already has checkpoints: pass --resume or use a new --run-dir")
    if saved:
        config = from_dict(kind, json.loads(directory.config_file.read_text()))
        if args.steps:
            config = dataclasses.replace(
                config, run=dataclasses.replace(config.run, steps=args.steps)
            )
        print(f"resuming {args.run_dir} at step {directory.latest_step()}", file=sys.stderr)
    else:
        config = fresh()
    directory.config_file.write_text(to_json(config))
    return directory, config


def _video_dir(config) -> Path:
    return Path(config.run.data.video_dir) if config.run.data.video_dir else default_video_dir()


def _vae(args: argparse.Namespace) -> int:
    from train.loop import train
    from train.sharding import make_mesh
    from train.vae_trainer import vae_task

    base = VAETraining(freeze_encoder=args.freeze_encoder)
    if args.freeze_encoder and not args.init_from:
        sys.exit("--freeze-encoder needs --init-from: a frozen random encoder would teach nothing")
    if args.frames:
        base = dataclasses.replace(
            base, objective=dataclasses.replace(base.objective, frames=args.frames)
        )
    directory, config = _open_run(args, VAETraining, lambda: _run_config(args, base, 20_000, 1e-3))
    train(vae_task(config, _video_dir(config)), config.run, directory, make_mesh())
    return 0


def _dit(args: argparse.Namespace) -> int:
    from train.dit_trainer import dit_task
    from train.loop import train
    from train.sharding import make_mesh

    objective = DiTTraining().objective
    objective = dataclasses.replace(
        objective,
        reuse=args.reuse or objective.reuse,
        sequence_latents=args.sequence_latents or objective.sequence_latents,
        own_context=objective.own_context if args.own_context is None else args.own_context,
        rollout=objective.rollout if args.rollout is None else args.rollout,
    )
    base = DiTTraining(objective=objective, vae=str(Path(args.vae).absolute()) if args.vae else "")

    def fresh():
        if not args.vae:
            sys.exit("--vae is required to start a DiT run (a VAE run directory or model folder)")
        return _run_config(args, base, 50_000, 3e-4)

    directory, config = _open_run(args, DiTTraining, fresh)
    train(dit_task(config, directory, _video_dir(config)), config.run, directory, make_mesh())
    return 0


def _motion(args: argparse.Namespace) -> int:
    from train.loop import train
    from train.motion_trainer import motion_task
    from train.sharding import make_mesh

    objective = MotionTraining().objective
    if args.rollout_steps:
        objective = dataclasses.replace(objective, rollout_steps=args.rollout_steps)
    base = MotionTraining(objective=objective)
    directory, config = _open_run(
        args, MotionTraining, lambda: _run_config(args, base, 20_000, 1e-3)
    )
    folders = (Path(config.run.data.video_dir),) if config.run.data.video_dir else None
    train(motion_task(config, folders), config.run, directory, make_mesh())
    return 0


def _export(args: argparse.Namespace) -> int:
    from train.export import export

    sampler = {
        "steps": args.steps,
        "detail_width": args.detail_width,
        "detail_snap": args.detail_snap,
        "guidance_strength": args.guidance_strength,
        "change_scale": args.change_scale,
        "fit_change_scale": args.fit_change_scale,
        "guidance_ramp_chunks": args.guidance_ramp_chunks,
    }
    report = export(
        args.dit_run,
        args.out,
        name=args.name,
        evaluate=args.eval,
        vae_decoder=args.vae_decoder,
        sampler={name: value for name, value in sampler.items() if value is not None},
    )
    print(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    vae = commands.add_parser("vae", help="train the causal VAE (reconstruction + KL)")
    _common_options(vae, 20_000, 1e-3)
    vae.add_argument(
        "--frames", type=int, help="frames per training clip, 1 + 4k (default 13: three groups)"
    )
    vae.add_argument(
        "--freeze-encoder",
        action="store_true",
        help="train the decoder only (with --init-from): latents, and a DiT on them, stay valid",
    )
    vae.set_defaults(run=_vae)
    dit = commands.add_parser(
        "dit", help="train the DiT on latents of the frozen VAE (diffusion forcing)"
    )
    _common_options(dit, 50_000, 3e-4)
    dit.add_argument("--vae", help="VAE run directory or model folder to freeze (first start)")
    dit.add_argument(
        "--reuse", type=int, help="steps trained on one encoded batch (default 2; encoding costs)"
    )
    dit.add_argument(
        "--sequence-latents", type=int, help="latent frames per training sequence (default 12)"
    )
    dit.add_argument(
        "--own-context",
        type=float,
        help="share of clips whose context is the model's own estimate of it (default 0)",
    )
    dit.add_argument(
        "--rollout",
        type=float,
        help="share of clips whose context is the model's own rollout, block after block, as "
        "the engine's sampler generates it (default 0; a forward pass per block)",
    )
    dit.set_defaults(run=_dit)
    motion = commands.add_parser(
        "motion",
        help="train the motion predictor (flow + mask, warping the last frame) on photo worlds "
        "with exact flow and real clips (both shared folders, held-out clips excluded)",
    )
    _common_options(motion, 20_000, 1e-3)
    motion.add_argument(
        "--rollout-steps",
        type=int,
        help="frames predicted and fed back per training clip (default 6)",
    )
    motion.set_defaults(run=_motion)
    export = commands.add_parser(
        "export", help="write a model folder (the DiT run's frozen VAE + its latest DiT)"
    )
    export.add_argument("--dit-run", required=True, help="DiT run directory")
    export.add_argument("--out", required=True, help="model folder to write")
    export.add_argument("--name", help="model name (default: derived from the run)")
    export.add_argument(
        "--vae-decoder",
        metavar="VAE_RUN",
        help="take the decoder from this VAE run (trained with --freeze-encoder from the VAE the "
        "DiT run froze)",
    )
    export.add_argument(
        "--steps", type=int, help="the model's Euler steps per chunk (default: the run's)"
    )
    export.add_argument(
        "--detail-width",
        type=float,
        help="the model's detail carry-over gate width (default: the run's; 0 is off)",
    )
    export.add_argument(
        "--detail-snap",
        type=float,
        help="the model's fraction of small change taken back inside the detail gate, in [0, 1] "
        "(default: the run's; 0 keeps the DiT's change)",
    )
    export.add_argument(
        "--guidance-strength",
        type=float,
        help="the model's guidance anchor strength lambda (default: the run's)",
    )
    export.add_argument(
        "--change-scale",
        type=float,
        help="the model's scale of each chunk's generated change, in (0, 1] (default: the run's)",
    )
    export.add_argument(
        "--fit-change-scale",
        action=argparse.BooleanOptionalAction,
        help="whether the model fits each session's change scale on its own real frames "
        "(default: the run's)",
    )
    export.add_argument(
        "--guidance-ramp-chunks",
        type=int,
        help="chunks after the last real frame over which the guidance anchor's strength rises "
        "to lambda (default: the run's; 0 is full strength at once)",
    )
    export.add_argument(
        "--eval",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run stream eval on the exported model and store its metrics (default on)",
    )
    export.set_defaults(run=_export)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
