"""`stream drift`: the whole experiment in one command, written as files a paper can use.

Outputs in the results folder:
- series.csv: one row per (source, mode, seed, latent frame) with eps norm and RMS, PSNR, anchor
  penalty and colour identity of prediction and truth;
- rho.csv: spectral-radius estimates along each trajectory; twin.csv: twin-rollout distances;
- summary.json: per mode, the fits of both growth laws over the unsaturated range, the winner,
  rho(J) mean and spread, the twin growth rate per chunk, wall time;
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
from stream.lab.growth import Fit, fit_exponential, fit_power, saturation_index
from stream.runtime.engine import Engine


def write_csv(path: pathlib.Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _fit_both(seconds: np.ndarray, eps: np.ndarray) -> dict[str, Any]:
    """Fit both laws up to saturation; t is measured from the first predicted frame."""
    saturated = saturation_index(eps)
    end = len(eps) if saturated is None else max(saturated, 8)
    t = seconds[:end] - seconds[0] + (seconds[1] - seconds[0])  # > 0 for the power law
    y = eps[:end]
    fits: dict[str, Fit] = {"exponential": fit_exponential(t, y), "power": fit_power(t, y)}
    winner = max(fits.values(), key=lambda fit: fit.r2)
    return {
        "saturation_found": saturated is not None,
        "fit_until_s": float(seconds[end - 1]),
        "lambda_per_s": fits["exponential"].rate,
        "r2_exponential": fits["exponential"].r2,
        "alpha": fits["power"].rate,
        "r2_power": fits["power"].r2,
        "winner": winner.law,
        "fits": {law: fit.__dict__ for law, fit in fits.items()},
        "t_offset_s": float(seconds[0] - (seconds[1] - seconds[0])),
    }


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


def summarise(rollouts: list[Rollout]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for mode in dict.fromkeys(r.mode for r in rollouts):
        mine = [r for r in rollouts if r.mode == mode]
        length = min(len(r.rows) for r in mine)
        eps = np.array([[row["eps_norm"] for row in r.rows[:length]] for r in mine])  # (seeds, T)
        seconds = np.array([row["seconds"] for row in mine[0].rows[:length]])
        rhos = np.array([row["rho"] for r in mine for row in r.rho])
        twin_rates = np.array([_twin_rate(r.twin) for r in mine])
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
            **_fit_both(seconds, eps.mean(axis=0)),
            "per_seed": [
                {"seed": r.seed, **_fit_both(seconds, eps[i])} for i, r in enumerate(mine)
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
        "modes": summarise(world_rollouts),
        "clip_modes": summarise(clip_rollouts) if clip_rollouts else {},
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
        f"{'rho(J)':>13} {'twin/chunk':>10} {'eps end':>8} {'sat.':>6}"
    )
    lines = [f"model: {summary['model']}", header]
    for mode, m in summary["modes"].items():
        lines.append(
            f"{mode:<10} {m['lambda_per_s']:>9.4f} {m['r2_exponential']:>7.3f} {m['alpha']:>6.2f} "
            f"{m['r2_power']:>7.3f} {m['winner']:>12} "
            f"{m['rho_mean']:>7.3f}±{m['rho_std']:<5.3f} {m['twin_growth_per_chunk']:>10.3f} "
            f"{m['eps_final_mean']:>8.2f} {'yes' if m['saturation_found'] else 'no':>6}"
        )
    lines.append(f"wall time: {summary['wall_time_s']:.0f} s")
    return "\n".join(lines)
