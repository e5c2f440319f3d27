"""The drift lab's figure: ||eps_t|| per anchor mode with both fitted growth laws, on linear and
log-log axes, and rho(J) along the trajectories."""

from __future__ import annotations

import pathlib
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the lab runs on machines without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from stream.lab.growth import Fit  # noqa: E402


def _series(rows: list[dict[str, Any]], mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(seconds (T,), eps (seeds, T)) of the world rollouts of one mode."""
    mine = [r for r in rows if r["mode"] == mode and not r["source"].startswith("clip:")]
    seeds = sorted({r["seed"] for r in mine})
    per_seed = [[r for r in mine if r["seed"] == seed] for seed in seeds]
    length = min(len(s) for s in per_seed)
    seconds = np.array([r["seconds"] for r in per_seed[0][:length]])
    eps = np.array([[r["eps_norm"] for r in s[:length]] for s in per_seed])
    return seconds, eps


def plot_drift(
    rows: list[dict[str, Any]],
    rho_rows: list[dict[str, Any]],
    summary: dict[str, Any],
    path: pathlib.Path,
) -> None:
    fig, (linear, loglog, rho_ax) = plt.subplots(1, 3, figsize=(17, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (mode, stats) in zip(colours, summary["modes"].items(), strict=False):
        seconds, eps = _series(rows, mode)
        mean = eps.mean(axis=0)
        t_fit = seconds - stats["t_offset_s"]
        until = seconds <= stats["fit_until_s"]
        for ax in (linear, loglog):
            ax.plot(
                seconds, mean, color=colour, lw=1.2, label=f"{mode} (winner: {stats['winner']})"
            )
            ax.fill_between(seconds, eps.min(axis=0), eps.max(axis=0), color=colour, alpha=0.15)
            for law, style in (("exponential", "--"), ("power", ":")):
                fit = Fit(**stats["fits"][law])
                ax.plot(seconds[until], fit(t_fit[until]), style, color=colour, lw=1.5)
        estimates = [r for r in rho_rows if r["mode"] == mode]
        if estimates:
            frames = np.array([r["latent_frame"] for r in estimates])
            rho_ax.scatter(
                4 * frames / summary.get("fps", 16.0),
                [r["rho"] for r in estimates],
                color=colour,
                s=12,
                label=mode,
            )
    space = summary.get("eps_space", "latent")
    linear.set(xlabel="time (s)", ylabel=f"||eps_t|| ({space} L2)", title="rollout error, linear")
    loglog.set(
        xscale="log", yscale="log", xlabel="time (s)", title="log-log: a power law is a line"
    )
    rho_ax.axhline(1.0, color="grey", lw=0.8)
    rho_ax.set(xlabel="time (s)", ylabel="rho(J) of the one-chunk map", title="spectral radius")
    linear.legend(fontsize=8, title="mean over seeds, band = range; -- exp, : power")
    if rho_rows:
        rho_ax.legend(fontsize=8)
    fig.suptitle(f"drift lab: {summary['model']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
