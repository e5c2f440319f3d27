"""`stream drift`: the whole experiment in one command, written as files a paper can use.

Outputs in the results folder:
- series.csv: one row per (source, mode, seed, latent frame) with eps norm and RMS, PSNR, anchor
  penalty and colour identity of prediction and truth;
- rho.csv: spectral-radius estimates along each trajectory; twin.csv: twin-rollout distances;
- summary.json: per mode, the saturation ceiling of ||eps_t|| and where the series passes a
  fraction of it, the fits of both growth laws below that point, the winner, rho(J) mean and
  spread, the twin growth rate per chunk, wall time;
- drift.png: ||eps_t|| against t per mode with fitted curves, linear and log-log panels.
"""

from __future__ import annotations

import csv
import json
import pathlib
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from stream.lab.drift import (
    DriftLab,
    DriftSettings,
    Rollout,
    Truth,
    clip_truth,
    total_latents,
    world_truth,
)
from stream.lab.drift_plot import plot_drift
from stream.lab.growth import saturation_index
from stream.lab.saturation import fit_below_saturation
from stream.runtime.engine import Engine


def write_csv(path: pathlib.Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _twin_rate(twin: list[dict[str, Any]]) -> float:
    """Geometric growth of the twins' distance per chunk, over the range before it saturates."""
    distance = np.array([row["distance"] for row in twin])
    distance = distance[distance > 0]
    if len(distance) < 3:
        return float("nan")
    end = saturation_index(distance) or len(distance)
    end = max(end, 3)
    slope = np.polyfit(np.arange(end), np.log(distance[:end]), 1)[0]
    return float(np.exp(slope))


def summarise(rollouts: list[Rollout], fraction: float) -> dict[str, Any]:
    """Per mode: the mean series over seeds fitted below `fraction` of the mean ceiling, and each
    seed's series below its own ceiling."""
    summary: dict[str, Any] = {}
    for mode in dict.fromkeys(r.mode for r in rollouts):
        mine = [r for r in rollouts if r.mode == mode]
        length = min(len(r.rows) for r in mine)
        eps = np.array([[row["eps_norm"] for row in r.rows[:length]] for r in mine])  # (seeds, T)
        seconds = np.array([row["seconds"] for row in mine[0].rows[:length]])
        rhos = np.array([row["rho"] for r in mine for row in r.rho])
        twin_rates = np.array([_twin_rate(r.twin) for r in mine])
        ceiling = float(np.mean([r.ceiling for r in mine]))
        summary[mode] = {
            "seeds": [r.seed for r in mine],
            "eps_final_mean": float(eps[:, -1].mean()),
            "eps_final_std": float(eps[:, -1].std()),
            "psnr_mean_db": float(np.mean([row["psnr_db"] for r in mine for row in r.rows])),
            "identity_pred_final": float(
                np.mean([r.rows[length - 1]["identity_pred"] for r in mine])
            ),
            "rho_mean": float(rhos.mean()) if len(rhos) else float("nan"),
            "rho_std": float(rhos.std()) if len(rhos) else float("nan"),
            "twin_growth_per_chunk": float(np.nanmean(twin_rates))
            if np.isfinite(twin_rates).any()
            else float("nan"),
            **fit_below_saturation(seconds, eps.mean(axis=0), ceiling, fraction),
            "per_seed": [
                {"seed": r.seed, **fit_below_saturation(seconds, eps[i], r.ceiling, fraction)}
                for i, r in enumerate(mine)
            ],
        }
    return summary


def run_drift(
    engine: Engine,
    settings: DriftSettings,
    out: pathlib.Path,
    clip: str | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    lab = DriftLab(engine, settings)
    latents = total_latents(engine, settings.minutes)
    chunks = lab.rollout_chunks(latents)
    truths: list[tuple[Truth, int, tuple[int, ...]]] = []
    for seed in settings.seeds:
        truth = world_truth(engine, settings.family, seed, lab.context_latents + chunks * lab.chunk)
        truths.append((truth, chunks, (seed,)))
    if clip is not None:
        truth = clip_truth(engine, clip)
        clip_chunks = lab.rollout_chunks(len(truth.latents))
        if len(truth.latents) <= lab.context_latents + lab.chunk:
            raise ValueError(f"clip={clip!r} is too short for a window of {lab.window} latents")
        truths.append((truth, clip_chunks, (settings.seeds[0],)))

    total = sum(n * len(settings.modes) for _, n, _ in truths)
    rows, rho_rows, twin_rows, world_rollouts, clip_rollouts = [], [], [], [], []
    with tqdm(total=total, desc="drift", unit="chunk") as bar:
        for truth, n, seeds in truths:
            for mode in settings.modes:
                for seed in seeds:
                    mode_start = time.perf_counter()
                    rollout = lab.rollout(truth, mode, seed, n, progress=lambda: bar.update(1))
                    tag = {"source": truth.name, "mode": mode, "seed": seed}
                    rows += [{**tag, **row} for row in rollout.rows]
                    rho_rows += [{**tag, **row} for row in rollout.rho]
                    twin_rows += [{**tag, **row} for row in rollout.twin]
                    bar.set_postfix(mode=mode, last_s=f"{time.perf_counter() - mode_start:.0f}")
                    is_clip = truth.name.startswith("clip:")
                    (clip_rollouts if is_clip else world_rollouts).append(rollout)

    summary = {
        "model": engine.name,
        "fps": engine.config.fps,
        "settings": {**settings.__dict__, "window": lab.window, "clip": clip},
        "chunks_per_rollout": chunks,
        "saturation_fraction": settings.saturation_fraction,
        "modes": summarise(world_rollouts, settings.saturation_fraction),
        "clip_modes": summarise(clip_rollouts, settings.saturation_fraction)
        if clip_rollouts
        else {},
        "wall_time_s": time.perf_counter() - started,
    }
    write_csv(out / "series.csv", rows)
    write_csv(out / "rho.csv", rho_rows)
    write_csv(out / "twin.csv", twin_rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    plot_drift(rows, rho_rows, summary, out / "drift.png")
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    header = (
        f"{'mode':<10} {'lambda/s':>9} {'R2 exp':>7} {'alpha':>6} {'R2 pow':>7} {'winner':>12} "
        f"{'rho(J)':>13} {'twin/chunk':>10} {'eps end':>8} {'/ceil':>6} {'fit until':>9}"
    )
    fraction = summary.get("saturation_fraction", 0.5)
    lines = [f"model: {summary['model']}; laws fitted below {fraction:g} of the ceiling", header]
    for mode, m in summary["modes"].items():
        lines.append(
            f"{mode:<10} {m['lambda_per_s']:>9.4f} {m['r2_exponential']:>7.3f} {m['alpha']:>6.2f} "
            f"{m['r2_power']:>7.3f} {m['winner']:>12} "
            f"{m['rho_mean']:>7.3f}±{m['rho_std']:<5.3f} {m['twin_growth_per_chunk']:>10.3f} "
            f"{m['eps_final_mean']:>8.2f} {m['eps_over_ceiling_final']:>6.2f} "
            f"{m['fit_until_s']:>8.1f}s"
        )
    lines.append(f"wall time: {summary['wall_time_s']:.0f} s")
    return "\n".join(lines)
