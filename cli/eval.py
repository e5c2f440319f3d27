"""`stream eval`: the model card's numbers (stream/lab/evaluation.py measures them)."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import pathlib
import sys

from cli.options import add_checkpoint_option
from stream import ANCHOR_MODES, DEFAULT_ANCHOR


def _measures() -> str:
    """What stream/lab/evaluation.py's docstring says it measures, read from its source: importing
    it would import JAX just to print --help."""
    source = pathlib.Path(importlib.util.find_spec("stream.lab.evaluation").origin).read_text()
    return ast.get_docstring(ast.parse(source)).split("\n\n", 1)[1]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure the model card's metrics (VAE PSNR/SSIM, prediction PSNR and the measures "
        "erasing cannot pass, TCS)",
        description=_measures(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_checkpoint_option(parser)
    parser.add_argument("--worlds", type=int, default=6, help="world videos (default 6)")
    parser.add_argument(
        "--anchor",
        choices=ANCHOR_MODES,
        default=DEFAULT_ANCHOR,
        help=f"anchor mode of the generating sessions (default {DEFAULT_ANCHOR})",
    )
    clips = parser.add_mutually_exclusive_group()
    clips.add_argument(
        "--video-dir", help="folder with the held-out clips (default ../shared/data/video)"
    )
    clips.add_argument(
        "--clips-dir",
        metavar="DIR",
        help="judge every video in DIR (for example a fresh batch held out of every choice) "
        "instead of the model's held-out clips; the real-clip numbers then describe DIR",
    )
    parser.add_argument(
        "--context-noise",
        type=float,
        help="diffusion time at which committed context enters the cache (default: the model's; "
        "0 commits it exactly clean, the ablation in docs/experiments/2026-11-22-context-noise.md)",
    )
    parser.add_argument(
        "--detail-width",
        type=float,
        help="gate width of detail carry-over (default: the model's; 0 turns it off, so the "
        "prediction is the DiT's and the VAE's alone)",
    )
    parser.add_argument(
        "--detail-snap",
        type=float,
        help="fraction in [0, 1] of the prediction's small change taken back inside the detail "
        "gate (default: the model's; 0 keeps the DiT's change)",
    )
    parser.add_argument(
        "--steps", type=int, help="Euler steps per chunk (default: the model's sampler.steps)"
    )
    parser.add_argument(
        "--change-scale",
        type=float,
        help="scale of each chunk's generated change from the last latent frame, in (0, 1] "
        "(default: the model's; 1 is the DiT's change unscaled)",
    )
    parser.add_argument(
        "--fit-change-scale",
        action=argparse.BooleanOptionalAction,
        help="fit each session's change scale on its own real frames, each predicted before it "
        "is committed (default: the model's; --no-fit-change-scale keeps --change-scale fixed)",
    )
    parser.add_argument(
        "--sheet",
        metavar="DIR",
        help="write a contact sheet PNG per held-out clip and per world video into DIR",
    )
    parser.add_argument(
        "--motion-run",
        metavar="RUN_DIR",
        help="judge instead the motion predictor of a training run (python -m train motion) "
        "alone, warping the last given frame with no DiT, by the motion measures on the "
        "held-out clips (its latest checkpoint)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stream import Engine
    from stream.lab.ablation import with_sampler
    from stream.lab.evaluation import format_report, run_eval
    from stream.media.clips import VIDEO_SUFFIXES, video_names

    video_dir = pathlib.Path(args.video_dir) if args.video_dir else None
    clips = None
    if args.clips_dir:
        video_dir = pathlib.Path(args.clips_dir)
        clips = video_names(video_dir) if video_dir.is_dir() else []
        if not clips:
            raise ValueError(
                f"--clips-dir {video_dir} holds no video (one of {', '.join(VIDEO_SUFFIXES)})"
            )
    if args.motion_run:
        return _judge_motion_run(args, video_dir, clips)
    engine = Engine.load(args.checkpoint)
    changes = {
        "context_noise": args.context_noise,
        "detail_width": args.detail_width,
        "detail_snap": args.detail_snap,
        "steps": args.steps,
        "change_scale": args.change_scale,
        "fit_change_scale": args.fit_change_scale,
    }
    changes = {name: value for name, value in changes.items() if value is not None}
    if changes:
        engine = with_sampler(engine, **changes)
    sheet_dir = pathlib.Path(args.sheet) if args.sheet else None
    moving = _moving_clips(engine.config.image_size, video_dir, clips)
    metrics = run_eval(
        engine,
        video_dir,
        worlds=args.worlds,
        anchor=args.anchor,
        sheet_dir=sheet_dir,
        clips=clips,
        moving_clips=moving,
    )
    print(json.dumps(metrics, indent=2) if args.json else format_report(engine, metrics))
    if sheet_dir is not None:
        # stderr: with --json, stdout is the JSON alone
        print(f"\ncontact sheets in {sheet_dir}", file=sys.stderr)
    return 0


def _moving_clips(size: int, video_dir: pathlib.Path | None, clips: list[str] | None):
    """The clips of the motion measures: `clips` in video_dir (--clips-dir), else the held-out
    clips found in video_dir (--video-dir) or in the shared folders."""
    from stream.lab.evaluation import motion_clips
    from stream.media.clips import default_video_dirs

    if clips is not None:
        return motion_clips(size, [video_dir], clips)
    return motion_clips(size, [video_dir] if video_dir else default_video_dirs())


def _judge_motion_run(
    args: argparse.Namespace, video_dir: pathlib.Path | None, clips: list[str] | None
) -> int:
    from stream.lab.evaluation import format_motion_report, predictor_motion_scores
    from stream.lab.motion_eval import motion_net_predictor
    from train.motion_trainer import load_motion_run

    model, config, step = load_motion_run(args.motion_run)
    name = f"motion predictor, {pathlib.Path(args.motion_run).name} step {step}"
    moving = _moving_clips(config.run.engine.image_size, video_dir, clips)
    if not moving:
        raise ValueError("no held-out clip found to judge the motion predictor on")
    sheet_dir = pathlib.Path(args.sheet) if args.sheet else None
    metrics = predictor_motion_scores(motion_net_predictor(model), name, moving, sheet_dir)
    print(json.dumps(metrics, indent=2) if args.json else format_motion_report(name, metrics))
    return 0
