"""Raster-order pixel model (numba): predict, code and store each pixel in turn.

Why raster order: every pixel then has its four nearest causal neighbours (W, N, NW, NE)
decoded, and the reference slices' values at the same places, so "reference + local
offset" predictions are sharp everywhere (coarse-to-fine interlacing left a quarter of
the pixels far from any decoded neighbour). Per pixel:

1. predictors: 5 of the slice itself (MED, W + NE - N, W, N, W + N - NW) and 4 per
   reference image (R + offset at W, at N, median of the offsets, their mean), clipped to
   the image's range;
2. blend: weights 2**24 / (e + 1)**2, e = each predictor's summed error at W, N, NW, NE
   (JPEG XL's weighted predictor, in integers);
3. contexts: error energy (final errors around the pixel, gradients and how far the
   predictors disagree) in 20 levels, x ROI / NROI, x "a neighbour is background";
   a "pixel is background" flag with its own contexts;
4. the residual, quantized with step 2e + 1 (e = the pixel's bound), goes through the
   adaptive binary range coder (``rangecoder``).

Integer arithmetic only: any machine decodes bit-exactly.
"""

from __future__ import annotations

import numba
import numpy as np

from medroi.codec import rangecoder
from medroi.codec.kernels import _round_div

N_SPATIAL = 5
N_BIAS_CONTEXTS = 9 * 4 * 20  # residual context x signs of the W and N errors
N_PER_REFERENCE = 4
WEIGHT_ONE = 1 << 24
_ERROR_CAP = 1 << 30


@numba.njit(cache=True, nogil=True, inline="always")
def _median3(a, b, c):
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    return a if a > b else b


@numba.njit(cache=True, nogil=True, inline="always")
def _clip(v, lo, hi):
    return lo if v < lo else (hi if v > hi else v)


@numba.njit(cache=True, nogil=True, inline="always")
def _neighbours(j, width):
    """Flat indices of W, N, NW, NE (-1 for the first pixel); missing ones borrow a partner."""
    y = j // width
    c = j - y * width
    if y == 0:
        if c == 0:
            return -1, -1, -1, -1
        return j - 1, j - 1, j - 1, j - 1
    n = j - width
    ne = n + 1 if c < width - 1 else n
    if c == 0:
        return n, n, n, ne
    return j - 1, n, n - 1, ne


@numba.njit(cache=True, nogil=True, inline="always")
def _predict(j, width, recon, refs, errors, final_error, lo, hi, thresholds, step, in_roi, split, n_activity,
             preds, default, bias_sum, bias_cnt):
    """Blended prediction, residual context and flag context of pixel ``j`` (fills ``preds``)."""
    iw, i_n, inw, ine = _neighbours(j, width)
    n_refs = refs.shape[1]
    n_pred = preds.size
    if iw < 0:
        for k in range(n_pred):
            preds[k] = default
        ref_state = 0 if n_refs == 0 else (1 if refs[j, 0] == lo else 2)
        return default, thresholds.size, 5 * ref_state, -1
    w = recon[iw]
    nn = recon[i_n]
    nw = recon[inw]
    ne = recon[ine]
    preds[0] = _median3(w, nn, w + nn - nw)
    preds[1] = w + ne - nn
    preds[2] = w
    preds[3] = nn
    preds[4] = w + nn - nw
    for r in range(n_refs):
        ref = refs[j, r]
        dw = w - refs[iw, r]
        dn = nn - refs[i_n, r]
        dnw = nw - refs[inw, r]
        dne = ne - refs[ine, r]
        base = N_SPATIAL + N_PER_REFERENCE * r
        preds[base] = ref + dw
        preds[base + 1] = ref + dn
        preds[base + 2] = ref + _median3(dw, dn, dw + dn - dnw)
        preds[base + 3] = ref + _round_div(dw + dn + dnw + dne, 4)
    numerator = 0
    total = 0
    pmin = hi
    pmax = lo
    for k in range(n_pred):
        p = _clip(preds[k], lo, hi)
        preds[k] = p
        if p < pmin:
            pmin = p
        if p > pmax:
            pmax = p
        evidence = (np.int64(errors[iw, k]) + np.int64(errors[i_n, k]) + np.int64(errors[inw, k])
                    + np.int64(errors[ine, k]) + 1)
        if evidence > 4096:  # weight 1 from here on; keeps the square far from overflow
            evidence = 4096
        weight = WEIGHT_ONE // (evidence * evidence)
        if weight < 1:
            weight = 1
        numerator += weight * p
        total += weight
    blended = _clip(_round_div(numerator, total), lo, hi)
    few = np.int64(final_error[iw])
    fen = np.int64(final_error[i_n])
    energy = 2 * (abs(few) + abs(fen)) + abs(np.int64(final_error[inw])) + abs(np.int64(final_error[ine]))
    gradients = abs(w - nw) + abs(nn - nw) + abs(nn - ne)
    activity = (energy + gradients + (pmax - pmin)) // (2 * step)
    bucket = 0
    while bucket < thresholds.size and activity >= thresholds[bucket]:
        bucket += 1
    if split and in_roi:
        bucket += n_activity
    n_background = (w == lo) + (nn == lo) + (nw == lo) + (ne == lo)
    if n_background > 0:
        bucket += 2 * n_activity
    ref_state = 0 if n_refs == 0 else (1 if refs[j, 0] == lo else 2)
    bias_ctx = bucket * 9 + 3 * (0 if few == 0 else (1 if few > 0 else 2)) + (0 if fen == 0 else (1 if fen > 0 else 2))
    if bias_cnt[bias_ctx] > 0:
        blended = _clip(blended + _round_div(bias_sum[bias_ctx], bias_cnt[bias_ctx]), lo, hi)
    return blended, bucket, 5 * ref_state + n_background, bias_ctx


@numba.njit(cache=True, nogil=True, inline="always")
def _store(j, value, blended, preds, recon, errors, final_error, bias_ctx, bias_sum, bias_cnt):
    recon[j] = value
    e = value - blended
    final_error[j] = _clip(e, -_ERROR_CAP, _ERROR_CAP)
    if bias_ctx >= 0:  # CALIC bias cancellation: running mean error per context, halved at 256
        bias_sum[bias_ctx] += e
        bias_cnt[bias_ctx] += 1
        if bias_cnt[bias_ctx] >= 256:
            bias_sum[bias_ctx] //= 2
            bias_cnt[bias_ctx] //= 2
    for k in range(preds.size):
        e = abs(value - preds[k])
        errors[j, k] = e if e < _ERROR_CAP else _ERROR_CAP


@numba.njit(cache=True, nogil=True)
def encode_slice(x, bound, coded, in_roi, refs, lo, hi, split, use_flag, thresholds, n_activity, probs, counts,
                 n_ctx_states, st, out, recon, errors, final_error, width, default, bias_sum, bias_cnt, start):
    """Code pixels ``start..`` in raster order; returns the index reached (``out`` full)."""
    preds = np.zeros(errors.shape[1], np.int64)
    for j in range(start, x.size):
        if not rangecoder.has_room(st, out):
            return j
        e = bound[j]
        step = 2 * e + 1
        blended, ctx, flag_ctx, bias_ctx = _predict(j, width, recon, refs, errors, final_error, lo, hi, thresholds,
                                                    step, in_roi[j], split, n_activity, preds, default, bias_sum,
                                                    bias_cnt)
        if coded[j]:
            flag = 1 if (use_flag and x[j] - lo <= e) else 0
            residual = x[j] - blended
            q = (abs(residual) + e) // step
            if residual < 0:
                q = -q
            rangecoder.encode_one(st, out, probs, counts, n_ctx_states, ctx, flag_ctx if use_flag else -1, flag, q)
            value = lo if flag else _clip(blended + q * step, lo, hi)
        else:
            value = recon[j]  # set by the caller (the network's reconstruction)
        _store(j, value, blended, preds, recon, errors, final_error, bias_ctx, bias_sum, bias_cnt)
    return x.size


@numba.njit(cache=True, nogil=True)
def decode_slice(bound, coded, in_roi, refs, lo, hi, split, use_flag, thresholds, n_activity, probs, counts,
                 n_ctx_states, st, buf, recon, errors, final_error, width, default, bias_sum, bias_cnt):
    """Inverse of ``encode_slice``; returns False on damaged data."""
    preds = np.zeros(errors.shape[1], np.int64)
    for j in range(recon.size):
        e = bound[j]
        step = 2 * e + 1
        blended, ctx, flag_ctx, bias_ctx = _predict(j, width, recon, refs, errors, final_error, lo, hi, thresholds,
                                                    step, in_roi[j], split, n_activity, preds, default, bias_sum,
                                                    bias_cnt)
        if coded[j]:
            flag, q, ok = rangecoder.decode_one(st, buf, probs, counts, n_ctx_states, ctx,
                                                flag_ctx if use_flag else -1)
            if not ok:
                return False
            value = lo if flag else _clip(blended + q * step, lo, hi)
        else:
            value = recon[j]
        _store(j, value, blended, preds, recon, errors, final_error, bias_ctx, bias_sum, bias_cnt)
    return True


def n_predictors(n_refs: int) -> int:
    """How many predictors a slice with ``n_refs`` references blends."""
    return N_SPATIAL + N_PER_REFERENCE * n_refs
