"""`stream drift --server HOST:PORT`: the drift experiment run against a server, over the wire.

Per anchor mode and world seed, a live session (anchor = mode, noise seed = world seed) gets the
world's first frames, then one extension of the whole rollout, streamed chunk by chunk. The client
has no VAE, so ||eps_t|| here is the pixel-space error of each group of 4 frames (one latent
frame) against the exact world frames (L2 over the group in [0, 1] units, and its per-element
RMS), next to PSNR, the server's anchor penalty and the colour identity; its saturation ceiling
is the same distance between unrelated groups of 4 true frames. Then the true frames are
pushed, 4 at a time, for the horizon the server scores
(stream.runtime.session.MAX_SCORED_LATENTS): each
FramesAccepted carries the running mean of the latent ||eps|| the server measured, from which the
per-frame latent error is recovered, so the same run also records drift in latent space.

There is no Jacobian over the wire; rho(J) and twin rollouts are the local `stream drift`'s.
"""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from serve.client import StreamClient
from serve.wire import stream_pb2 as pb
from stream.lab.drift import DriftSettings, Rollout, colour_identity
from stream.lab.drift_plot import plot_drift
from stream.lab.drift_run import summarise, write_csv
from stream.lab.saturation import saturation_ceiling
from stream.media.worlds import make_world
from stream.metrics import psnr_from_mse
from stream.model.vae import TEMPORAL_FACTOR
from stream.runtime.session import MAX_SCORED_LATENTS


def _pixel_row(
    t: int, fps: float, predicted: np.ndarray, truth: np.ndarray, first: np.ndarray, penalty: float
) -> dict[str, Any]:
    """One latent frame's worth of frames (4, S, S, 3) against the truth."""
    error = (predicted.astype(np.float64) - truth) / 255.0
    mse = float((error**2).mean())
    return {
        "latent_frame": t,
        "seconds": TEMPORAL_FACTOR * t / fps,
        "eps_norm": float(np.sqrt((error**2).sum())),
        "eps_rms": float(np.sqrt(mse)),
        "psnr_db": psnr_from_mse(mse, peak=1.0),
        "anchor_penalty": penalty,
        "identity_pred": float(colour_identity(predicted, first).mean()),
        "identity_true": float(colour_identity(truth, first).mean()),
    }


def _latent_errors(accepted: list[pb.FramesAccepted]) -> list[float]:
    """Per-frame latent ||eps|| from the server's running means after each pushed group."""
    errors, previous = [], 0.0
    for answer in accepted:
        error = answer.prediction_error
        if error.latent_frames == 0:
            break
        total = error.latent_norm * error.latent_frames
        errors.append(total - previous)
        previous = total
    return errors


class WireDrift:
    """Rollouts of world videos through a server's live sessions."""

    def __init__(self, client: StreamClient, settings: DriftSettings):
        self.client = client
        self.settings = settings
        self.info = client.info()
        self.window = settings.window or self.info.window_latent_frames
        # As in the local lab: a full window plus the anchor, so every mode starts alike.
        self.context_latents = self.window + 1
        self.context_frames = 1 + TEMPORAL_FACTOR * (self.context_latents - 1)
        fps, per_chunk = self.info.fps, self.info.frames_per_chunk
        total_frames = int(settings.minutes * 60.0 * fps)
        self.chunks = max(1, (total_frames - self.context_frames) // per_chunk)
        self.rollout_frames = self.chunks * per_chunk

    def rollout(self, mode: str, seed: int, progress) -> tuple[Rollout, list[dict[str, Any]]]:
        """One rollout: (pixel-space rows as a Rollout, latent-space rows from the server)."""
        fps = self.info.fps
        world = make_world(self.settings.family, seed=seed, size=self.info.image_size)
        first = world.frames(0, 1)[0]
        settings = {"anchor": mode, "seed": seed, "window": self.window}
        if self.settings.steps is not None:
            settings["steps"] = self.settings.steps
        rows: list[dict[str, Any]] = []
        with self.client.session(**settings) as session:
            session.push(world.frames(0, self.context_frames))
            start = self.context_frames
            pending: list[np.ndarray] = []
            last_chunk = -1
            for chunk in session.extend(self.rollout_frames):
                pending.extend(chunk.frames)
                while len(pending) >= TEMPORAL_FACTOR:
                    group = np.stack(pending[:TEMPORAL_FACTOR])  # (4, S, S, 3)
                    pending = pending[TEMPORAL_FACTOR:]
                    t = self.context_latents + len(rows)
                    truth = world.frames(start + TEMPORAL_FACTOR * len(rows), TEMPORAL_FACTOR)
                    rows.append(_pixel_row(t, fps, group, truth, first, chunk.anchor_penalty))
                if chunk.chunk_index != last_chunk:  # a chunk may arrive in several messages
                    last_chunk = chunk.chunk_index
                    progress()
            scored = min(MAX_SCORED_LATENTS, len(rows))
            accepted = [
                session.push(world.frames(start + TEMPORAL_FACTOR * i, TEMPORAL_FACTOR))
                for i in range(scored)
            ]
        latent_rows = [
            {
                "latent_frame": self.context_latents + i,
                "seconds": TEMPORAL_FACTOR * (self.context_latents + i) / fps,
                "latent_eps_norm": eps,
            }
            for i, eps in enumerate(_latent_errors(accepted))
        ]
        truth = world.frames(self.context_frames, self.rollout_frames).astype(np.float32) / 255.0
        groups = truth.reshape(-1, TEMPORAL_FACTOR, *truth.shape[1:])  # (T, 4, S, S, 3)
        ceiling = saturation_ceiling(groups, seed=seed)
        return Rollout(mode, seed, rows, [], [], ceiling), latent_rows


def run_wire_drift(
    client: StreamClient, settings: DriftSettings, out: pathlib.Path
) -> dict[str, Any]:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    lab = WireDrift(client, settings)
    rollouts, rows, latent_rows = [], [], []
    total = lab.chunks * len(settings.modes) * len(settings.seeds)
    with tqdm(total=total, desc="drift over the wire", unit="chunk") as bar:
        for mode in settings.modes:
            for seed in settings.seeds:
                rollout, latent = lab.rollout(mode, seed, lambda: bar.update(1))
                tag = {"source": f"{settings.family}:{seed}", "mode": mode, "seed": seed}
                rows += [{**tag, **row} for row in rollout.rows]
                latent_rows += [{**tag, **row} for row in latent]
                rollouts.append(rollout)
    summary = {
        "model": f"{lab.info.name} via {client.target}",
        "fps": lab.info.fps,
        "eps_space": "pixels",
        "settings": {**settings.__dict__, "window": lab.window, "server": client.target},
        "chunks_per_rollout": lab.chunks,
        "saturation_fraction": settings.saturation_fraction,
        "modes": summarise(rollouts, settings.saturation_fraction),
        "server_latent_eps": {
            mode: float(np.mean([r["latent_eps_norm"] for r in latent_rows if r["mode"] == mode]))
            for mode in settings.modes
            if any(r["mode"] == mode for r in latent_rows)
        },
        "wall_time_s": time.perf_counter() - started,
    }
    write_csv(out / "series.csv", rows)
    write_csv(out / "server_latent_eps.csv", latent_rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    plot_drift(rows, [], summary, out / "drift.png")
    return summary
