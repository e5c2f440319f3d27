"""`stream drift`: the whole experiment in one command, written as files a paper can use.

Outputs in the results folder:
- series.csv: one row per (source, mode, seed, latent frame): eps norm, RMS and fraction of the
  ceiling, PSNR, both anchor penalties, colour identity, motion, sharpness and mean colour of
  prediction and truth;
- rho.csv: rho(J) estimates along each trajectory (with spread, iterations, converged);
  twin.csv: twin-rollout distances; force.csv: velocity and penalty-gradient norms;
- lyapunov.csv: the top Lyapunov exponents per rollout; theory.csv: the linear theory's
  predicted ||eps_t|| next to the measured one and xi; coherence.csv: coherence per lag;
- sweep.csv (with --sweep-lambdas): error, identity, motion, sharpness and force ratio per
  penalty and lambda; sweep_series.csv: the sweep's rollouts;
- summary.json: per mode, the saturation ceiling and where the series passes a fraction of it,
  both growth laws fitted below that point and the winner, rho(J) with its spread, the Lyapunov
  exponents and predictable horizon, the theory's deviation, coherence, quality drift, identity
  and sharpness at 1, 10 and 60 minutes, the guidance force ratio, wall time;
- drift.png: the figure (drift_plot.py).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from stream.lab.coherence import DEFAULT_LAGS, lag_coherence, quality_drift, window_mean
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
from stream.lab.guidance_sweep import force_ratio
from stream.lab.lyapunov import predictable_horizon
from stream.lab.saturation import fit_below_saturation
from stream.lab.theory import deviation
from stream.runtime.engine import Engine

MARK_MINUTES = (1, 10, 60)  # identity and sharpness are read at these marks when reached


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


def _column(rollout: Rollout, key: str, length: int) -> np.ndarray:
    return np.array([row[key] for row in rollout.rows[:length]])


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _identity_over_time(
    mine: list[Rollout], window_s: float, lags: tuple[int, ...]
) -> dict[str, Any]:
    """Coherence per lag, quality drift, and identity and sharpness at the minute marks."""
    length = min(len(r.rows) for r in mine)
    seconds = _column(mine[0], "seconds", length)
    coherence = {
        side: {
            str(lag): _nanmean(
                [lag_coherence(getattr(r, f"features_{side}"), lags)[lag] for r in mine]
            )
            for lag in lags
        }
        for side in ("pred", "true")
    }
    quality = {}
    for side in ("pred", "true"):
        drifts = [
            quality_drift(
                seconds,
                _column(r, f"sharpness_{side}", length),
                np.stack([_column(r, f"{c}_{side}", length) for c in ("red", "green", "blue")], 1),
                window_s,
            )
            for r in mine
        ]
        quality[side] = {key: _nanmean([d[key] for d in drifts]) for key in drifts[0]}
    marks = {}
    for minute in MARK_MINUTES:
        marks[str(minute)] = {
            key: _nanmean(
                [
                    window_mean(seconds, _column(r, key, length), 60.0 * minute, window_s)
                    for r in mine
                ]
            )
            for key in ("eps_over_ceiling", "identity_pred", "sharpness_pred", "sharpness_true")
        }
    return {"coherence": coherence, "quality": quality, "at_minutes": marks}


def _lyapunov(mine: list[Rollout], chunk_s: float, ceiling: float, first_eps: float) -> dict:
    spectra = [r.lyapunov for r in mine if r.lyapunov is not None]
    if not spectra:
        return {}
    per_s = np.mean([s.exponents for s in spectra], axis=0) / chunk_s  # (k,)
    stderr = np.mean([s.stderr for s in spectra], axis=0) / chunk_s  # (k,)
    top = float(per_s[0])
    return {
        "exponents_per_s": per_s.tolist(),
        "stderr_per_s": stderr.tolist(),
        "chunks": len(spectra[0].log_growth),
        "expanding": int((per_s > 0).sum()),
        "top_per_s": top,
        "predictable_horizon_s": predictable_horizon(top, first_eps, ceiling),
    }


def _theory(mine: list[Rollout]) -> dict[str, Any]:
    with_theory = [r for r in mine if r.theory]
    if not with_theory:
        return {}
    length = min(len(r.theory) for r in with_theory)
    predicted = np.mean([[row["eps_theory"] for row in r.theory[:length]] for r in with_theory], 0)
    measured = np.mean([_column(r, "eps_norm", length) for r in with_theory], axis=0)
    xi = [row["xi_norm"] for r in with_theory for row in r.theory[:length]]
    return {
        **deviation(predicted, measured),
        "xi_norm_mean": float(np.mean(xi)),
        "until_s": float(with_theory[0].theory[length - 1]["seconds"]),
    }


def summarise(
    rollouts: list[Rollout],
    fraction: float,
    window_s: float = 10.0,
    lags: tuple[int, ...] = DEFAULT_LAGS,
) -> dict[str, Any]:
    """Per mode: the mean series over seeds fitted below `fraction` of the mean ceiling, each
    seed's below its own; rho(J), twins, Lyapunov exponents, theory and identity over time where
    the rollouts measured them."""
    summary: dict[str, Any] = {}
    for mode in dict.fromkeys(r.mode for r in rollouts):
        mine = [r for r in rollouts if r.mode == mode]
        length = min(len(r.rows) for r in mine)
        eps = np.array([_column(r, "eps_norm", length) for r in mine])  # (seeds, T)
        seconds = _column(mine[0], "seconds", length)
        rho_rows = [row for r in mine for row in r.rho]
        rhos = np.array([row["rho"] for row in rho_rows])
        twin_rates = np.array([_twin_rate(r.twin) for r in mine])
        ceiling = float(np.mean([r.ceiling for r in mine]))
        force = [row for r in mine for row in r.force]
        guidance = float(np.mean([r.guidance for r in mine]))
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
            "rho_spread_mean": _nanmean([row.get("spread", np.nan) for row in rho_rows]),
            "rho_converged_fraction": _nanmean(
                [float(row.get("converged", np.nan)) for row in rho_rows]
            ),
            "rho_iterations_mean": _nanmean([row.get("iterations", np.nan) for row in rho_rows]),
            "twin_growth_per_chunk": _nanmean(list(twin_rates)),
            "guidance": guidance,
            "guidance_force_ratio": force_ratio(force, "stats", guidance) if force else np.nan,
            **fit_below_saturation(seconds, eps.mean(axis=0), ceiling, fraction),
            "per_seed": [
                {"seed": r.seed, **fit_below_saturation(seconds, eps[i], r.ceiling, fraction)}
                for i, r in enumerate(mine)
            ],
            "lyapunov": _lyapunov(mine, mine[0].chunk_s, ceiling, float(eps[:, 0].mean())),
            "theory": _theory(mine),
        }
        if all(r.features_pred is not None for r in mine) and "sharpness_pred" in mine[0].rows[0]:
            summary[mode].update(_identity_over_time(mine, window_s, lags))
    return summary


def summarise_sweep(rollouts: list[Rollout], penalty_of: dict[int, str]) -> list[dict[str, Any]]:
    """One row per sweep rollout: the penalty and lambda it ran with, and what they did."""
    rows = []
    for r in rollouts:
        penalty = penalty_of[id(r)]
        strength = r.guidance
        eps = _column(r, "eps_norm", len(r.rows))
        motion = sum(row["motion_pred"] for row in r.rows) / sum(
            row["motion_true"] for row in r.rows
        )
        sharp = _column(r, "sharpness_pred", len(r.rows))
        rows.append(
            {
                "penalty": penalty,
                "lambda": strength,
                "mode": r.mode,
                "seed": r.seed,
                "eps_mean": float(eps.mean()),
                "eps_final": float(eps[-1]),
                "eps_over_ceiling_final": float(eps[-1] / r.ceiling),
                "identity_pred_final": float(r.rows[-1]["identity_pred"]),
                "coherence_10": lag_coherence(r.features_pred, (10,))[10],
                "motion_ratio": float(motion),
                "sharpness_last_over_first": float(sharp[-len(sharp) // 4 :].mean())
                / float(sharp[: max(1, len(sharp) // 4)].mean()),
                "force_ratio": force_ratio(r.force, penalty, strength),
            }
        )
    return rows


def _sweep(
    lab: DriftLab, engine: Engine, settings: DriftSettings, bar: tqdm
) -> tuple[list[Rollout], dict[int, str]]:
    """Rollouts of the sweep's world, one per penalty and lambda; lambda 0 runs once for all."""
    mode = "both" if settings.sweep_attention else "guidance"
    seed = settings.seeds[0] if settings.sweep_seed is None else settings.sweep_seed
    chunks = lab.rollout_chunks(total_latents(engine, settings.sweep_minutes))
    truth = world_truth(engine, settings.family, seed, lab.context_latents + chunks * lab.chunk)
    done: dict[tuple[float, float], Rollout] = {}
    rollouts, penalty_of = [], {}
    for penalty in settings.sweep_penalties:
        for strength in settings.sweep_lambdas:
            # Lambda 0 is the same rollout under every penalty.
            key = (penalty if strength else "stats", strength)
            if key not in done:
                done[key] = lab.rollout(
                    truth, mode, seed, chunks, lambda: bar.update(1), strength, key[0], False
                )
            else:
                bar.update(chunks)
            rollout = done[key]
            if id(rollout) in penalty_of:  # lambda 0: one run, reported under each penalty
                rollout = dataclasses.replace(rollout)
            penalty_of[id(rollout)] = penalty
            rollouts.append(rollout)
    return rollouts, penalty_of


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

    theory_chunks = min(settings.theory_chunks, chunks)
    sweep_chunks = lab.rollout_chunks(total_latents(engine, settings.sweep_minutes))
    total = sum((n + theory_chunks) * len(settings.modes) for _, n, _ in truths)
    total += sweep_chunks * len(settings.sweep_lambdas) * len(settings.sweep_penalties)
    rows, rho_rows, twin_rows, force_rows, lyapunov_rows, theory_rows = [], [], [], [], [], []
    coherence_rows, world_rollouts, clip_rollouts = [], [], []
    with tqdm(total=total, desc="drift", unit="chunk") as bar:
        for truth, n, seeds in truths:
            for mode in settings.modes:
                for seed in seeds:
                    mode_start = time.perf_counter()
                    rollout = lab.rollout(truth, mode, seed, n, progress=lambda: bar.update(1))
                    if settings.theory_chunks:
                        rollout.theory = lab.theory(truth, mode, seed, n)
                        bar.update(min(settings.theory_chunks, n))
                    tag = {"source": truth.name, "mode": mode, "seed": seed}
                    rows += [{**tag, **row} for row in rollout.rows]
                    rho_rows += [{**tag, **row} for row in rollout.rho]
                    twin_rows += [{**tag, **row} for row in rollout.twin]
                    force_rows += [{**tag, **row} for row in rollout.force]
                    measured = {row["latent_frame"]: row["eps_norm"] for row in rollout.rows}
                    theory_rows += [
                        {**tag, **row, "eps_measured": measured[row["latent_frame"]]}
                        for row in rollout.theory
                    ]
                    if rollout.lyapunov is not None:
                        stderr = rollout.lyapunov.stderr
                        lyapunov_rows += [
                            {**tag, "index": i, "per_chunk": float(e), "stderr": float(stderr[i])}
                            for i, e in enumerate(rollout.lyapunov.exponents)
                        ]
                    coherence_rows += [
                        {**tag, "lag": lag, "pred": pred, "true": true}
                        for (lag, pred), true in zip(
                            lag_coherence(rollout.features_pred, settings.coherence_lags).items(),
                            lag_coherence(rollout.features_true, settings.coherence_lags).values(),
                            strict=True,
                        )
                    ]
                    bar.set_postfix(mode=mode, last_s=f"{time.perf_counter() - mode_start:.0f}")
                    is_clip = truth.name.startswith("clip:")
                    (clip_rollouts if is_clip else world_rollouts).append(rollout)
        sweep_rollouts, penalty_of = (
            _sweep(lab, engine, settings, bar) if settings.sweep_lambdas else ([], {})
        )

    fraction, window_s = settings.saturation_fraction, settings.quality_window_s
    lags = settings.coherence_lags
    sweep_rows = summarise_sweep(sweep_rollouts, penalty_of)
    summary = {
        "model": engine.name,
        "fps": engine.config.fps,
        "settings": {**settings.__dict__, "window": lab.window, "clip": clip},
        "chunks_per_rollout": chunks,
        "saturation_fraction": fraction,
        "modes": summarise(world_rollouts, fraction, window_s, lags),
        "clip_modes": summarise(clip_rollouts, fraction, window_s, lags) if clip_rollouts else {},
        "sweep": sweep_rows,
        "wall_time_s": time.perf_counter() - started,
    }
    write_csv(out / "series.csv", rows)
    write_csv(out / "rho.csv", rho_rows)
    write_csv(out / "twin.csv", twin_rows)
    write_csv(out / "force.csv", force_rows)
    write_csv(out / "lyapunov.csv", lyapunov_rows)
    write_csv(out / "theory.csv", theory_rows)
    write_csv(out / "coherence.csv", coherence_rows)
    write_csv(out / "sweep.csv", sweep_rows)
    write_csv(
        out / "sweep_series.csv",
        [
            {"penalty": penalty_of[id(r)], "lambda": s["lambda"], "seed": r.seed, **row}
            for r, s in zip(sweep_rollouts, sweep_rows, strict=True)
            for row in r.rows
        ],
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    plot_drift(rows, rho_rows, summary, out / "drift.png", theory_rows)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    fraction = summary.get("saturation_fraction", 0.5)
    header = (
        f"{'mode':<10} {'law':>11} {'R2':>6} {'lambda/s':>9} {'alpha':>6} {'rho(J)':>13} "
        f"{'conv':>5} {'LE1/s':>7} {'#LE>0':>5} {'horizon':>8} {'theory':>7} {'coh@10':>6} "
        f"{'sharp':>6} {'eps end':>8} {'/ceil':>6} {'fit until':>9}"
    )
    lines = [f"model: {summary['model']}; laws fitted below {fraction:g} of the ceiling", header]
    nan = float("nan")
    for mode, m in summary["modes"].items():
        lyapunov, theory = m.get("lyapunov", {}), m.get("theory", {})
        r2 = m["r2_exponential"] if m["winner"] == "exponential" else m["r2_power"]
        coherence = m.get("coherence", {}).get("pred", {}).get("10", nan)
        sharp = m.get("quality", {}).get("pred", {}).get("sharpness_ratio", nan)
        lines.append(
            f"{mode:<10} {m['winner']:>11} {r2:>6.3f} {m['lambda_per_s']:>9.4f} "
            f"{m['alpha']:>6.2f} {m['rho_mean']:>7.3f}±{m['rho_spread_mean']:<5.3f} "
            f"{m['rho_converged_fraction']:>5.2f} {lyapunov.get('top_per_s', nan):>7.3f} "
            f"{lyapunov.get('expanding', 0):>5d} "
            f"{lyapunov.get('predictable_horizon_s', nan):>7.1f}s "
            f"{theory.get('relative_deviation', nan):>7.2f} {coherence:>6.3f} {sharp:>6.2f} "
            f"{m['eps_final_mean']:>8.2f} {m['eps_over_ceiling_final']:>6.2f} "
            f"{m['fit_until_s']:>8.1f}s"
        )
    marks = [
        (mode, minute, values)
        for mode, m in summary["modes"].items()
        for minute, values in m.get("at_minutes", {}).items()
        if np.isfinite(values["identity_pred"])
    ]
    if marks:
        lines.append(f"\n{'mode':<10} {'minute':>6} {'eps/ceil':>8} {'identity':>8} {'sharp':>8}")
        for mode, minute, v in marks:
            lines.append(
                f"{mode:<10} {minute:>6} {v['eps_over_ceiling']:>8.3f} "
                f"{v['identity_pred']:>8.3f} {v['sharpness_pred']:>8.1f}"
            )
    if summary.get("sweep"):
        lines.append(
            f"\n{'penalty':<8} {'lambda':>7} {'eps mean':>9} {'eps/ceil':>8} {'identity':>8} "
            f"{'coh@10':>6} {'motion':>6} {'sharp':>6} {'|l gradC|/|v|':>13}"
        )
        for row in summary["sweep"]:
            lines.append(
                f"{row['penalty']:<8} {row['lambda']:>7g} {row['eps_mean']:>9.2f} "
                f"{row['eps_over_ceiling_final']:>8.3f} {row['identity_pred_final']:>8.3f} "
                f"{row['coherence_10']:>6.3f} {row['motion_ratio']:>6.2f} "
                f"{row['sharpness_last_over_first']:>6.2f} {row['force_ratio']:>13.4g}"
            )
    lines.append(f"wall time: {summary['wall_time_s']:.0f} s")
    return "\n".join(lines)
