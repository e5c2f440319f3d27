"""Every measure of frames in one place: PSNR, SSIM, the temporal consistency score, and the
measures of a predicted continuation that blurring or erasing the content cannot pass.

Whole-frame PSNR rewards a prediction that keeps the background and lets the moving objects
dissolve, and it rewards blur (docs/DESIGN.md 6). The prediction measures each catch one thing
such a prediction gets wrong, as plain numpy functions of frames (T, H, W, 3), uint8 or float on
the 0-255 scale:

- `foreground_mse`: error inside the true object masks only (erased sprites score badly);
- `sharpness_ratio`: high-frequency energy against a reference (blur scores < 1);
- `motion_ratio`: frame-to-frame change against the truth's (a frozen or dissolving prediction
  scores < 1, invented motion > 1);
- `context_distances`: do predictions of different inputs differ more than two seeds on one
  input (a model that ignores its input does not);
- `jump_ratio`: the step into the first predicted frame against a real frame step (a cut at the
  start of every extension scores >> 1);
- `flow_endpoint_error`: how far the prediction's optical flow is from the truth's (a frozen
  prediction scores the true flow's size, `flow_magnitude`; only motion in the right direction at
  the right speed scores less).
"""

from __future__ import annotations

import itertools

import cv2
import jax
import jax.numpy as jnp
import numpy as np


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    """PSNR in dB of a mean squared error, on a scale whose peak-to-peak range is `peak` (255
    for uint8 frames), inf for a perfect match. The one PSNR: every other is this."""
    return float(10 * np.log10(peak**2 / mse)) if mse > 0 else float("inf")


def frame_psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """psnr_from_mse of two frame arrays of one shape, over all elements."""
    return psnr_from_mse(float(np.mean(np.square(a.astype(np.float64) - b))), peak)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with 0/0 = nan and x/0 = inf: a measure whose reference is
    zero (a frozen truth) has no meaningful ratio, and should not crash a whole evaluation."""
    if denominator > 0:
        return float(numerator / denominator)
    return float("nan") if numerator == 0 else float("inf")


def chunk_span(chunk: int, per_chunk: int) -> slice:
    """Frames of the chunk-th chunk ahead (1-based) within a continuation."""
    return slice((chunk - 1) * per_chunk, chunk * per_chunk)


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a - b| over all elements, on the scale of the inputs (0-255 for uint8)."""
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def foreground_mse(predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared error over the pixels where mask (T, H, W) is true, all channels.

    Frames are (T, H, W, 3). Pixels outside the mask do not count at all, so a prediction that
    keeps the background but erases the objects gains nothing from the background.
    """
    if not mask.any():
        raise ValueError("foreground_mse: the mask selects no pixel")
    diff = predicted.astype(np.float64) - truth.astype(np.float64)  # (T, H, W, 3)
    return float(np.mean(np.square(diff[mask])))  # diff[mask]: (P, 3)


def laplacian_variance(frames: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian of each frame's grey image: (T,) floats.

    The Laplacian keeps only the highest spatial frequencies, so its variance falls as a picture
    blurs; interior pixels only, so no border padding adds edges of its own.
    """
    grey = frames.astype(np.float64).mean(-1)  # (T, H, W)
    lap = (
        grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1] + grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:]
    ) - 4.0 * grey[:, 1:-1, 1:-1]  # (T, H-2, W-2)
    return lap.reshape(len(frames), -1).var(-1)  # (T,)


def sharpness_ratio(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Mean Laplacian variance of the predicted frames over that of the reference frames.

    With the reference the VAE's reconstruction of the true frames (the sharpest a latent model
    can be), 1 is as sharp as possible, blur gives less; block seams add high frequencies of
    their own and can push it up, so read it next to the contact sheets.
    """
    return ratio(float(laplacian_variance(predicted).mean()), laplacian_variance(reference).mean())


def mean_motion(frames: np.ndarray) -> float:
    """Mean |frame_t - frame_{t-1}| over the T - 1 steps of frames (T, H, W, 3)."""
    return mean_abs_difference(frames[1:], frames[:-1])


def motion_ratio(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean frame-to-frame change of the prediction over the truth's.

    Both are (T + 1, H, W, 3): the frame before the span, then the span, so that the first step
    of the first chunk is the one from the last pushed frame. A frozen prediction scores 0, a
    dissolving one falls toward 0, invented motion scores above 1.
    """
    return ratio(mean_motion(predicted), mean_motion(truth))


def jump_ratio(
    last_pushed: np.ndarray, first_predicted: np.ndarray, first_true: np.ndarray
) -> float:
    """|first predicted - last pushed| over |first true - last pushed| (mean abs, frames (H, W, 3)).

    1 is a step like the real one; a prediction that cuts to another picture at the start of
    every extension scores far above 1.
    """
    return ratio(
        mean_abs_difference(first_predicted, last_pushed),
        mean_abs_difference(first_true, last_pushed),
    )


# Optical flow is estimated on frames upsampled this many times: at 64 pixels DIS's 8-pixel patches
# miss small objects (error 0.2-0.5 px on exact photo-world flow at 1x, 0.03-0.15 px at 2x).
_FLOW_UPSAMPLE = 2


def optical_flow(frames: np.ndarray) -> np.ndarray:
    """Dense optical flow between consecutive frames (T, H, W, 3) uint8: float32 (T-1, H, W, 2),
    (dx, dy) in pixels, forward from frame t to frame t + 1 (OpenCV's DIS, medium preset, on
    the grey frames; classical and weightless, so no download and the same answer on any machine).
    Two equal frames give exactly 0."""
    frames = np.asarray(frames, dtype=np.uint8)
    height, width = frames.shape[1:3]
    grey = [
        cv2.resize(
            cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY),
            (width * _FLOW_UPSAMPLE, height * _FLOW_UPSAMPLE),
            interpolation=cv2.INTER_CUBIC,
        )
        for frame in frames
    ]  # T x (H*u, W*u)
    flows = []
    for a, b in itertools.pairwise(grey):
        fine = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
        coarse = cv2.resize(fine, (width, height), interpolation=cv2.INTER_AREA)  # (H, W, 2)
        flows.append(coarse / _FLOW_UPSAMPLE)
    return np.asarray(flows, dtype=np.float32).reshape(len(frames) - 1, height, width, 2)


def endpoint_error(flow: np.ndarray, reference: np.ndarray) -> float:
    """Mean Euclidean distance between two flow fields (..., 2), in pixels."""
    return float(np.mean(np.linalg.norm(flow.astype(np.float64) - reference, axis=-1)))


def flow_magnitude(frames: np.ndarray) -> float:
    """Mean length of the optical flow between consecutive frames (T + 1, H, W, 3), in pixels:
    the flow end-point error of repeating the first frame, whose flow is 0."""
    return endpoint_error(optical_flow(frames), np.zeros(2))


def flow_endpoint_error(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean end-point error between the prediction's consecutive-frame optical flow and the
    truth's, in pixels; both (T + 1, H, W, 3) uint8, the frame before the span first (as for
    motion_ratio). 0 for a perfect prediction; flow_magnitude(truth) for a frozen one."""
    return endpoint_error(optical_flow(predicted), optical_flow(truth))


def mean_pairwise_distance(videos: np.ndarray) -> float:
    """Mean absolute difference between every pair of videos along axis 0 (N >= 2, any shape)."""
    pairs = list(itertools.combinations(range(len(videos)), 2))
    if not pairs:
        raise ValueError("mean_pairwise_distance needs at least two videos")
    return float(np.mean([mean_abs_difference(videos[i], videos[j]) for i, j in pairs]))


def context_distances(predictions: np.ndarray) -> tuple[float, float]:
    """(inputs distance, seeds distance) of predictions (I, K, T, H, W, 3): I inputs, K seeds.

    The inputs distance is the mean absolute difference between predictions of two different
    inputs with one seed, averaged over seeds; the seeds distance, between two seeds on one
    input, averaged over inputs. A model that follows its input has the first much larger; one
    that ignores it has the first at most the second (zero when the seed alone decides).
    """
    inputs = float(
        np.mean([mean_pairwise_distance(predictions[:, k]) for k in range(predictions.shape[1])])
    )
    seeds = float(
        np.mean([mean_pairwise_distance(predictions[i]) for i in range(len(predictions))])
    )
    return inputs, seeds


def psnr(a: jax.Array, b: jax.Array, peak: float = 2.0) -> jax.Array:
    """psnr_from_mse of images in [-1, 1] (peak-to-peak 2) over all elements, traceable (a
    training step logs it), floored at an MSE of 1e-12 so that it stays finite."""
    mse = jnp.mean(jnp.square(a - b))
    return 10.0 * jnp.log10(peak**2 / jnp.maximum(mse, 1e-12))


def _gaussian_window(size: int = 7, sigma: float = 1.5) -> jax.Array:
    x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
    g = jnp.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()  # (size,)


def ssim(a: jax.Array, b: jax.Array) -> jax.Array:
    """Mean SSIM of images (..., H, W, C) in [-1, 1]: Gaussian window 7x7, sigma 1.5, per channel
    (a 7-wide window rather than the usual 11 suits 64x64 frames)."""
    a = (a.reshape(-1, *a.shape[-3:]) + 1.0) / 2.0  # (N, H, W, C) in [0, 1]
    b = (b.reshape(-1, *b.shape[-3:]) + 1.0) / 2.0
    g = _gaussian_window()

    def blur(x: jax.Array) -> jax.Array:
        # Separable valid convolution along H then W.
        x = jnp.moveaxis(x, -1, 1)  # (N, C, H, W)
        x = jax.vmap(jax.vmap(jax.vmap(lambda r: jnp.convolve(r, g, "valid"), 1, 1)))(x)
        x = jax.vmap(jax.vmap(jax.vmap(lambda r: jnp.convolve(r, g, "valid"))))(x)
        return x  # (N, C, H', W')

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return jnp.mean(num / den)


def tcs_features(frames: np.ndarray, side: int = 16) -> np.ndarray:
    """Frames (T, S, S, 3) -> area-downsampled to side x side, minus each frame's mean colour."""
    t, s = frames.shape[:2]
    x = frames.astype(np.float32).reshape(t, side, s // side, side, s // side, 3).mean((2, 4))
    x = x - x.mean((1, 2), keepdims=True)  # (T, side, side, 3)
    return x.reshape(t, -1)


def temporal_consistency(frames: np.ndarray) -> float:
    """TCS: mean cosine similarity of consecutive frames' features (1 = a frozen video)."""
    f = tcs_features(frames)
    num = (f[1:] * f[:-1]).sum(-1)
    den = np.linalg.norm(f[1:], axis=-1) * np.linalg.norm(f[:-1], axis=-1)
    return float(np.mean(num / np.maximum(den, 1e-9)))
