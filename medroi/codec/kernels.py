"""Compiled per-pass kernels (numba): prediction, contexts and error bookkeeping.

Why compiled: these loops touch ~30 neighbour values per pixel; as numpy expressions they
took ~40 % of coding time (benchmarks/bench_codec_speed.py). Integer arithmetic only, so
the encoder and any decoder compute identical predictions on every machine.
"""

from __future__ import annotations

import numba
import numpy as np

# Blend weights are WEIGHT_ONE / (evidence + 1)**2, evidence = summed neighbour errors.
WEIGHT_ONE = 1 << 24


@numba.njit(cache=True, nogil=True)
def _round_div(numerator: np.int64, denominator: np.int64) -> np.int64:
    """round(numerator / denominator) for denominator > 0, ties to even (unbiased)."""
    quotient = numerator // denominator
    twice_remainder = 2 * (numerator - quotient * denominator)
    if twice_remainder > denominator or (twice_remainder == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


@numba.njit(cache=True, nogil=True)
def predict_pass(recon, refs, errors, final_error, positions, p1a, p1b, p2a, p2b, lo, hi, thresholds,
                 steps, in_roi, split_regions, n_activity):
    """Blended prediction, each predictor's prediction, the entropy context and the
    background-flag context of a pass.

    Background = the image's lowest value ``lo`` (skull-stripped or air); a pixel with a
    background neighbour gets its own contexts (the brain's boundary is ~20 % of the bits).

    Predictors: edge-directed interpolation of the slice itself, and per reference image
    that reference plus the interpolated difference (decoded - reference) around the pixel.
    """
    n = positions.size
    n_refs = refs.shape[1]
    n_pred = 1 + n_refs
    blended = np.empty(n, np.int64)
    predictions = np.empty((n, n_pred), np.int64)
    contexts = np.empty(n, np.int64)
    flag_contexts = np.empty(n, np.int64)
    for i in range(n):
        ia, ib, ic, id_ = p1a[i], p1b[i], p2a[i], p2b[i]
        a, b, c, d = recon[ia], recon[ib], recon[ic], recon[id_]
        g1 = abs(a - b)
        g2 = abs(c - d)
        w1 = g2 + 1
        w2 = g1 + 1
        den = 2 * (w1 + w2)
        spatial = _round_div((a + b) * w1 + (c + d) * w2, den)
        predictions[i, 0] = spatial
        disagreement = 0
        j = positions[i]
        for r in range(n_refs):
            detail = (a - refs[ia, r] + b - refs[ib, r]) * w1 + (c - refs[ic, r] + d - refs[id_, r]) * w2
            pred = refs[j, r] + _round_div(detail, den)
            predictions[i, 1 + r] = pred
            disagreement += abs(pred - spatial)
        if n_pred == 1:
            value = spatial
        else:
            numerator = 0
            total = 0
            for k in range(n_pred):
                evidence = errors[ia, k] + errors[ib, k] + errors[ic, k] + errors[id_, k] + 1
                weight = WEIGHT_ONE // (evidence * evidence)
                if weight < 1:
                    weight = 1
                numerator += weight * predictions[i, k]
                total += weight
            value = _round_div(numerator, total)
        if value < lo:
            value = lo
        elif value > hi:
            value = hi
        blended[i] = value
        activity = (g1 + g2) // 2 + final_error[ia] + final_error[ib] + final_error[ic] + final_error[id_]
        activity = (activity + 2 * disagreement) // steps[i]
        bucket = 0
        while bucket < thresholds.size and activity >= thresholds[bucket]:
            bucket += 1
        if split_regions and in_roi[i]:
            bucket += n_activity
        n_background = (a == lo) + (b == lo) + (c == lo) + (d == lo)
        if n_background > 0:
            bucket += 2 * n_activity
        contexts[i] = bucket
        ref_state = 0 if n_refs == 0 else (1 if refs[j, 0] == lo else 2)
        flag_contexts[i] = 5 * ref_state + n_background
    return blended, predictions, contexts, flag_contexts


@numba.njit(cache=True, nogil=True)
def store_pass(recon, errors, final_error, positions, values, blended, predictions):
    """Write a pass's decoded values and each predictor's absolute error.

    Arrays are pixel-major ((size, n_predictors)), so a neighbour's errors share a cache line."""
    for i in range(positions.size):
        j = positions[i]
        v = values[i]
        recon[j] = v
        final_error[j] = abs(v - blended[i])
        for k in range(errors.shape[1]):
            errors[j, k] = abs(v - predictions[i, k])
