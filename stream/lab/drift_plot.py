"""The drift lab's figure, two rows of panels:
- ||eps_t|| per anchor mode with both growth laws fitted below saturation, linear and log-log,
  with the ceiling and the fraction of it where the fits stop;
- the linear theory's prediction over the measured curve; rho(J) along the trajectories with
  each estimate's spread; the top Lyapunov exponents;
- the guidance sweep: error and identity, and motion and force ratio, against lambda per penalty;
  coherence against lag.
Panels without data (a run over the wire, no sweep) stay empty with a note.
"""

from __future__ import annotations

import pathlib
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the lab runs on machines without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from stream.lab.growth import Fit  # noqa: E402


def _series(rows: list[dict[str, Any]], mode: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(seconds (T,), values (seeds, T)) of the world rollouts of one mode."""
    mine = [r for r in rows if r["mode"] == mode and not r["source"].startswith("clip:")]
    seeds = sorted({r["seed"] for r in mine})
    per_seed = [[r for r in mine if r["seed"] == seed] for seed in seeds]
    length = min(len(s) for s in per_seed)
    seconds = np.array([r["seconds"] for r in per_seed[0][:length]])
    return seconds, np.array([[r[key] for r in s[:length]] for s in per_seed])


def _empty(ax: plt.Axes, title: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=ax.transAxes)


def _growth(linear, loglog, rows, summary, colours) -> None:
    for colour, (mode, stats) in zip(colours, summary["modes"].items(), strict=False):
        seconds, eps = _series(rows, mode, "eps_norm")
        t_fit = seconds - stats["t_offset_s"]
        until = seconds <= stats["fit_until_s"]
        for ax in (linear, loglog):
            label = f"{mode} ({stats['winner']} below saturation)"
            ax.plot(seconds, eps.mean(axis=0), color=colour, lw=1.2, label=label)
            ax.fill_between(seconds, eps.min(axis=0), eps.max(axis=0), color=colour, alpha=0.15)
            for law, style in (("exponential", "--"), ("power", ":")):
                fit = Fit(**stats["fits"][law])
                ax.plot(seconds[until], fit(t_fit[until]), style, color=colour, lw=1.5)
        if "ceiling" in stats:
            for ax in (linear, loglog):
                ax.axhline(stats["ceiling"], color=colour, lw=0.6, alpha=0.6)
                fraction = stats["saturation_fraction"] * stats["ceiling"]
                ax.axhline(fraction, color=colour, lw=0.6, ls="-.", alpha=0.6)
    space = summary.get("eps_space", "latent")
    linear.set(xlabel="time (s)", ylabel=f"||eps_t|| ({space} L2)", title="rollout error, linear")
    loglog.set(
        xscale="log", yscale="log", xlabel="time (s)", title="log-log: a power law is a line"
    )
    linear.legend(
        fontsize=7,
        title="mean over seeds, band = range; -- exp, : power; "
        "thin: ceiling, -.: fraction where fits stop",
        title_fontsize=7,
    )


def _theory(ax, theory_rows, summary, colours) -> None:
    if not theory_rows:
        _empty(ax, "linear theory against measurement")
        return
    for colour, mode in zip(colours, summary["modes"], strict=False):
        mine = [r for r in theory_rows if r["mode"] == mode and not r["source"].startswith("clip:")]
        if not mine:
            continue
        frames = sorted({r["latent_frame"] for r in mine})
        seconds = [next(r["seconds"] for r in mine if r["latent_frame"] == f) for f in frames]
        for key, style in (("eps_measured", "-"), ("eps_theory", "--")):
            mean = [np.mean([r[key] for r in mine if r["latent_frame"] == f]) for f in frames]
            ax.plot(seconds, mean, style, color=colour, lw=1.2, label=f"{mode} {key[4:]}")
        deviation = summary["modes"][mode].get("theory", {}).get("relative_deviation", np.nan)
        ax.plot([], [], " ", label=f"{mode}: deviation {deviation:.2f}")
    ax.set(xlabel="time (s)", ylabel="||eps_t||", title="eps_t = J eps_{t-1} + xi_t against data")
    ax.legend(fontsize=7)


def _rho(ax, rho_rows, summary, colours) -> None:
    if not rho_rows:
        _empty(ax, "spectral radius")
        return
    for colour, mode in zip(colours, summary["modes"], strict=False):
        estimates = [r for r in rho_rows if r["mode"] == mode]
        if estimates:
            frames = np.array([r["latent_frame"] for r in estimates])
            ax.errorbar(
                4 * frames / summary.get("fps", 16.0),
                [r["rho"] for r in estimates],
                yerr=[r.get("spread", 0.0) for r in estimates],
                fmt="o",
                color=colour,
                ms=3,
                label=mode,
            )
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set(xlabel="time (s)", ylabel="rho(J) of the one-chunk map", title="spectral radius")
    ax.legend(fontsize=7, title="bars: spread of the growth averaged", title_fontsize=7)


def _lyapunov(ax, summary, colours) -> None:
    spectra = {m: s.get("lyapunov", {}) for m, s in summary["modes"].items()}
    if not any(spectra.values()):
        _empty(ax, "Lyapunov exponents")
        return
    for colour, (mode, spectrum) in zip(colours, spectra.items(), strict=False):
        if spectrum:
            exponents = spectrum["exponents_per_s"]
            ax.errorbar(
                np.arange(1, len(exponents) + 1),
                exponents,
                yerr=spectrum["stderr_per_s"],
                fmt="o-",
                color=colour,
                ms=3,
                label=f"{mode}: horizon {spectrum['predictable_horizon_s']:.0f} s",
            )
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set(xlabel="index", ylabel="exponent (1/s)", title="top Lyapunov exponents (Benettin)")
    ax.legend(fontsize=7)


def _sweep(error_ax, motion_ax, sweep: list[dict[str, Any]]) -> None:
    if not sweep:
        _empty(error_ax, "guidance sweep: error and identity")
        _empty(motion_ax, "guidance sweep: motion and force")
        return
    for penalty, marker in zip(dict.fromkeys(r["penalty"] for r in sweep), "os^", strict=False):
        mine = sorted((r for r in sweep if r["penalty"] == penalty), key=lambda r: r["lambda"])
        strengths = [r["lambda"] for r in mine]
        for ax, keys in (
            (error_ax, ("eps_over_ceiling_final", "identity_pred_final")),
            (motion_ax, ("motion_ratio", "force_ratio")),
        ):
            for key, style in zip(keys, ("-", "--"), strict=True):
                values = [r[key] for r in mine]
                ax.plot(strengths, values, style, marker=marker, ms=4, label=f"{penalty} {key}")
    for ax, title in (
        (error_ax, "guidance sweep: error / ceiling, colour identity"),
        (motion_ax, "guidance sweep: motion ratio, |lambda grad C| / |v|"),
    ):
        ax.set(xscale="symlog", xlabel="lambda", title=title)
        ax.set_xlim(left=0)
        ax.legend(fontsize=7)
    motion_ax.set_yscale("symlog", linthresh=0.01)


def _coherence(ax, summary, colours) -> None:
    if not any("coherence" in s for s in summary["modes"].values()):
        _empty(ax, "long-horizon coherence")
        return
    for colour, (mode, stats) in zip(colours, summary["modes"].items(), strict=False):
        for side, style in (("pred", "o-"), ("true", "x:")):
            lags = [int(lag) for lag in stats["coherence"][side]]
            label = mode if side == "pred" else None
            ax.plot(lags, list(stats["coherence"][side].values()), style, color=colour, label=label)
    ax.set(
        xscale="log",
        xlabel="lag (latent frames)",
        ylabel="mean cosine similarity",
        title="coherence: prediction (o) and truth (x)",
    )
    ax.legend(fontsize=7)


def plot_drift(
    rows: list[dict[str, Any]],
    rho_rows: list[dict[str, Any]],
    summary: dict[str, Any],
    path: pathlib.Path,
    theory_rows: list[dict[str, Any]] = (),
) -> None:
    fig, axes = plt.subplots(2, 4, figsize=(24, 10))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    _growth(axes[0, 0], axes[0, 1], rows, summary, colours)
    _theory(axes[0, 2], list(theory_rows), summary, colours)
    _rho(axes[0, 3], rho_rows, summary, colours)
    _lyapunov(axes[1, 0], summary, colours)
    _sweep(axes[1, 1], axes[1, 2], summary.get("sweep", []))
    _coherence(axes[1, 3], summary, colours)
    fig.suptitle(f"drift lab: {summary['model']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
