"""Lossless 2D pixels with context mixing (numba, integers only): formats 5 and 6.

Why: one context per decision (``raster``'s activity levels) leaves JPEG XL e7 1-13 % ahead
on radiographs and 12-bit CT. Here every binary decision of a residual (the binarization of
``rangecoder``: zero, sign, exponent, two mantissa bits, raw low bits) is predicted by six or
seven context models at once, and their probabilities are mixed in the logistic domain by weights
learnt as the image is coded (as in lpaq / GraLIC):

1. the signed largest neighbour error (JPEG XL's weighted-predictor property), 32 levels;
2. error energy + gradients, 20 levels (the mixer's weight set is chosen by it too);
3. CALIC texture (6 neighbours above / below the prediction) x signs of the W and N errors;
4. exact small differences N - W, W - NW, NE - N (radiographs whose differences sit on a comb);
5. the W and N residuals themselves, clamped, x energy;
6. how far a second predictor (MED beside JPEG XL's, the W-N average beside MED) lies from the
   prediction, signed, x energy;
7. for a 2D image that went through JPEG (``blockgrid``): the pixel's place in its 8 x 8 block
   x energy.

Generation 2 (``MIX_WP2`` / ``MIX_MED2``, format 6) adds a model of where the W-N average
disagrees with the prediction, and in MED mode runs the LMS stage on MED's residuals as
model 6's second predictor (MED itself stays the prediction: corrected by the LMS, it loses
18 % on a 125-value CT rendering). On the 12 tuning images -0.25 %, the ankle CT -1.4 %.
Generation 1 (``MIX_WP`` / ``MIX_MED``, format 5) is still decoded, bit for bit.

Predictor (``MIX_WP``): JPEG XL's self-correcting weighted predictor (libjxl
``weighted.h``, default parameters) corrected by a normalized-LMS second stage, or MED
(``MIX_MED``, for values on a lattice). Measured with ideal code lengths first
(benchmarks/yardstick_mixing.py; what paid and what did not: benchmarks/results/mixing.md).
Lossless slices without references only: 2D images, and the planes of a colour image, where
``slice_coder`` hands over each plane after the first as its difference from the plane before.
The encoder codes both modes (and the ranks of the used values where they leave a gap) and
keeps the smallest.
"""

from __future__ import annotations

import numba
import numpy as np

from medroi.codec import rangecoder
from medroi.codec.raster import _clip, _median3

MIX_WP, MIX_MED = 0, 1  # generation 1 (format 5); bit 0 set: MED
MIX_WP2, MIX_MED2 = 2, 3  # generation 2 (format 6)
MIX_MODES = (MIX_WP, MIX_MED, MIX_WP2, MIX_MED2)
N_INPUTS = 8  # models, at most (generation 2's model, the block model with a JPEG grid); then a constant input
_SIZES = np.array([32, 20, 64 * 9 * 4, 9 * 9 * 9, 7 * 7 * 8, 17 * 5, 64 * 5, 17 * 5], dtype=np.int64)
_OFFSETS = np.concatenate([[0], np.cumsum(_SIZES)]).astype(np.int64)
N_MIX_CONTEXTS = int(_OFFSETS[-1])
N_WEIGHT_SETS = 16
N_SLOTS = rangecoder.N_STATES
WEIGHT_INIT = 13107  # 0.2 in 16-bit fixed point, for each input
BIAS_INPUT = 256  # a constant input (stretch units), so the mixer can learn an offset
MIX_SHIFT = 11  # the mixer learns at (error x input) / 2**MIX_SHIFT (tuned on 12 images: 10-12 within 0.3 %)
N_TAPS = 12  # the second stage's causal features (MIX_WP)
LMS_MU = 8  # its step: 8 / 1024 (real bytes on 12 images: 3-20 within 0.15 %)
_LMS_FEATURES, _LMS_DOT, _LMS_NORM, _LMS_BASE = N_TAPS, 2 * N_TAPS, 2 * N_TAPS + 1, 2 * N_TAPS + 2
_FEATURE_CAP = 1 << 15
RATE_LIMIT = 8  # counters adapt at 1 / (n + 2) after n updates, until 1 / 2**RATE_LIMIT

# lpaq's squash: 1 / (1 + e^-d), d in 1/256 units, p in 12 bits; stretch is its inverse
_SQUASH_POINTS = np.array([1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994,
                           3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094],
                          dtype=np.int64)


def _squash_py(d: int) -> int:
    if d > 2047:
        return 4095
    if d < -2047:
        return 1
    w = d & 127
    i = (d >> 7) + 16
    return int((_SQUASH_POINTS[i] * (128 - w) + _SQUASH_POINTS[i + 1] * w + 64) >> 7)


_SQUASH = np.array([_squash_py(d) for d in range(-2047, 2048)], dtype=np.int64)


def _stretch_table() -> np.ndarray:
    table = np.zeros(4096, dtype=np.int64)
    pi = 0
    for x in range(-2047, 2048):
        v = _squash_py(x)
        for k in range(pi, v + 1):
            table[k] = x
        pi = v + 1
    table[pi:] = 2047
    return table


_STRETCH = _stretch_table()


def _bucket_edges(n: int) -> np.ndarray:
    """Smallest v with floor(1.5 log2(1 + v)) >= k, k = 1..n-1 (exact: (1 + v)**3 >= 4**k)."""
    edges = []
    for k in range(1, n):
        m = 1
        while m ** 3 < 4 ** k:
            m += 1
        edges.append(m - 1)
    return np.array(edges, dtype=np.int64)


#: 2**24 // (i + 1) for i < 64: the weighted predictor divides only by such numbers (libjxl's divlookup)
_DIV_LOOKUP = np.array([(1 << 24) // (i + 1) for i in range(64)], dtype=np.int64)
_LEVEL_LUT_SIZE = 8192
_LEVELS = np.searchsorted(_bucket_edges(20), np.arange(_LEVEL_LUT_SIZE), side="right").astype(np.int64)


def new_state(width: int) -> dict[str, np.ndarray]:
    """Fresh adaptive state of one slice: counters, mixer weights, the predictor's row buffers."""
    return {
        "counters": np.full(N_MIX_CONTEXTS * N_SLOTS, rangecoder.PROB_ONE // 2, dtype=np.int64),
        "weights": np.full(N_WEIGHT_SETS * N_SLOTS * (N_INPUTS + 1), WEIGHT_INIT, dtype=np.int64),
        "sub_errors": np.zeros((4, 2 * (width + 2)), dtype=np.int64),
        "wp_error": np.zeros(2 * (width + 2), dtype=np.int64),
        "residuals": np.zeros(2 * width, dtype=np.int64),
        "stage1": np.zeros(3 * width, dtype=np.int64),  # MIX_WP: the weighted predictor's own residuals
        "lms": np.zeros(2 * N_TAPS + 3, dtype=np.int64),  # weights (1/65536), features, dot, norm, prediction
        "inputs": np.zeros(N_INPUTS + 1, dtype=np.int64),  # the last: the constant input
        "states": np.zeros(N_INPUTS, dtype=np.int64),
    }


@numba.njit(cache=True, nogil=True, inline="always")
def _level(v):
    v = -v if v < 0 else v
    return _LEVELS[v] if v < _LEVEL_LUT_SIZE else 19


@numba.njit(cache=True, nogil=True, inline="always")
def _floor_log2(v):
    r = 0
    while (v >> (r + 1)) > 0:
        r += 1
    return r


@numba.njit(cache=True, nogil=True, inline="always")
def _neighbourhood(recon, j, y, c, width, default):
    """W, N, NW, NE, NN, WW of pixel ``j`` (row ``y``, column ``c``); missing ones borrow."""
    if y == 0:
        w = recon[j - 1] if c > 0 else default
        ww = recon[j - 2] if c > 1 else w
        return w, w, w, w, w, ww
    n = recon[j - width]
    w = recon[j - 1] if c > 0 else n
    nw = recon[j - width - 1] if c > 0 else n
    ne = recon[j - width + 1] if c < width - 1 else n
    nn = recon[j - 2 * width] if y > 1 else n
    ww = recon[j - 2] if c > 1 else w
    return w, n, nw, ne, nn, ww


@numba.njit(cache=True, nogil=True, inline="always")
def _largest(a, b, c, d):
    """The one of four signed errors with the largest magnitude (the first on ties)."""
    largest = a
    if abs(b) > abs(largest):
        largest = b
    if abs(c) > abs(largest):
        largest = c
    if abs(d) > abs(largest):
        largest = d
    return largest


@numba.njit(cache=True, nogil=True, inline="always")
def _wp_predict(c, y, width, w, n, nw, ne, nn, sub_errors, wp_error, preds):
    """JPEG XL's weighted prediction in 1/8 units (libjxl weighted.h, default header) and the
    signed largest neighbour error; fills ``preds`` with the four sub-predictions (and their
    weights after them)."""
    cur = 0 if y & 1 else width + 2
    prev = width + 2 if y & 1 else 0
    pos_n = prev + c
    pos_ne = pos_n + 1 if c < width - 1 else pos_n
    pos_nw = pos_n - 1 if c > 0 else pos_n
    n8, w8, ne8, nw8, nn8 = n << 3, w << 3, ne << 3, nw << 3, nn << 3
    te_w = wp_error[cur + c - 1] if c > 0 else 0
    te_n = wp_error[pos_n]
    te_nw = wp_error[pos_nw]
    te_ne = wp_error[pos_ne]
    max_error = _largest(te_w, te_n, te_nw, te_ne)
    sum_wn = te_n + te_w
    preds[0] = w8 + ne8 - n8
    preds[1] = n8 - (((sum_wn + te_ne) * 16) >> 5)
    preds[2] = w8 - (((sum_wn + te_nw) * 10) >> 5)
    preds[3] = n8 - ((te_nw * 7 + te_n * 7 + te_ne * 7) >> 5)
    total = 0
    for i in range(4):
        e = sub_errors[i, pos_n] + sub_errors[i, pos_ne] + sub_errors[i, pos_nw]
        shift = _floor_log2(e + 1) - 5
        if shift < 0:
            shift = 0
        preds[4 + i] = 4 + ((((0xD if i == 0 else 0xC) * _DIV_LOOKUP[e >> shift]) >> shift))
        total += preds[4 + i]
    log_weight = _floor_log2(total)
    total = 0
    for i in range(4):
        preds[4 + i] >>= log_weight - 4
        total += preds[4 + i]
    s = (total >> 1) - 1
    for i in range(4):
        s += preds[i] * preds[4 + i]
    pred = (s * _DIV_LOOKUP[total - 1]) >> 24
    if not (((te_n ^ te_w) | (te_n ^ te_nw)) > 0):
        hi8 = max(w8, max(ne8, n8))
        lo8 = min(w8, min(ne8, n8))
        pred = _clip(pred, lo8, hi8)
    return pred, max_error


@numba.njit(cache=True, nogil=True, inline="always")
def _wp_update(c, y, width, value, pred8, sub_errors, wp_error, preds):
    cur = 0 if y & 1 else width + 2
    prev = width + 2 if y & 1 else 0
    v8 = value << 3
    wp_error[cur + c] = pred8 - v8
    for i in range(4):
        e = (abs(preds[i] - v8) + 3) >> 3
        sub_errors[i, cur + c] = e
        sub_errors[i, prev + c + 1] += e


@numba.njit(cache=True, nogil=True, inline="always")
def _stage1(stage1, y, c, width):
    """The weighted predictor's residual at row ``y``, column ``c`` (0 outside the image)."""
    if y < 0 or c < 0 or c >= width:
        return 0
    return stage1[(y % 3) * width + c]


@numba.njit(cache=True, nogil=True, inline="always")
def _value(recon, y, c, width, fallback):
    return recon[y * width + c] if y >= 0 and 0 <= c < width else fallback


@numba.njit(cache=True, nogil=True, inline="always")
def _lms_predict(y, c, width, recon, stage1, lms):
    """Second stage (MIX_WP): normalized LMS weights on 12 causal features (the weighted
    predictor's residuals around the pixel, four gradients of the row above) predict its
    residual; returns that correction, rounded (ideal code lengths: -1.5 % on radiographs)."""
    x_w = _value(recon, y, c - 1, width, 0)
    x_nw = _value(recon, y - 1, c - 1, width, x_w)
    x_n = _value(recon, y - 1, c, width, x_w)
    x_ne = _value(recon, y - 1, c + 1, width, x_n)
    x_nee = _value(recon, y - 1, c + 2, width, x_ne)
    f = lms[_LMS_FEATURES:_LMS_FEATURES + N_TAPS]
    f[0] = _stage1(stage1, y, c - 1, width)
    f[1] = _stage1(stage1, y - 1, c, width)
    f[2] = _stage1(stage1, y - 1, c - 1, width)
    f[3] = _stage1(stage1, y - 1, c + 1, width)
    f[4] = _stage1(stage1, y, c - 2, width)
    f[5] = _stage1(stage1, y - 2, c, width)
    f[6] = x_w - x_nw if c > 0 else 0
    f[7] = x_n - x_nw
    f[8] = x_ne - x_n
    f[9] = x_nee - x_ne
    f[10] = _stage1(stage1, y - 1, c + 2, width)
    f[11] = _stage1(stage1, y - 2, c - 1, width)
    dot = 0
    norm = 1
    for k in range(N_TAPS):
        f[k] = _clip(f[k], -_FEATURE_CAP, _FEATURE_CAP)
        dot += lms[k] * f[k]
        norm += f[k] * f[k]
    lms[_LMS_DOT] = dot
    lms[_LMS_NORM] = norm
    return (dot + (1 << 15)) >> 16


@numba.njit(cache=True, nogil=True, inline="always")
def _lms_update(y, c, width, value, stage1, lms):
    """Store the weighted predictor's residual of the coded pixel and move the weights (NLMS)."""
    residual = value - lms[_LMS_BASE]
    stage1[(y % 3) * width + c] = residual
    error = _clip((residual << 16) - lms[_LMS_DOT], -(1 << 31), 1 << 31)
    g = (error << 8) // lms[_LMS_NORM]
    for k in range(N_TAPS):
        lms[k] += (g * lms[_LMS_FEATURES + k] * LMS_MU) >> 18


@numba.njit(cache=True, nogil=True, inline="always")
def _disagreement(d, level):
    """Context of where a second predictor lies ``d`` from the prediction, signed, x energy."""
    code = 0 if d == 0 else 2 * min(_level(d), 8) - (1 if d < 0 else 0)
    return 5 * code + min(4, level // 4)


@numba.njit(cache=True, nogil=True, inline="always")
def _contexts(j, y, c, width, recon, default, lo, hi, mode, sub_errors, wp_error, residuals, preds, states, blocks,
              stage1, lms):
    """Prediction of pixel ``j``, its WP prediction in 1/8 units (MIX_WP), the mixer's weight
    set; fills ``states`` with each model's first counter index."""
    w, n, nw, ne, nn, ww = _neighbourhood(recon, j, y, c, width, default)
    cur = (y & 1) * width
    prev = width - cur
    rw = residuals[cur + c - 1] if c > 0 else 0
    rn = residuals[prev + c] if y > 0 else 0
    rnw = residuals[prev + c - 1] if y > 0 and c > 0 else 0
    rne = residuals[prev + c + 1] if y > 0 and c < width - 1 else 0
    pred8 = 0
    second = 0
    if (mode & 1) == 0:  # the weighted predictor + LMS
        pred8, max_error = _wp_predict(c, y, width, w, n, nw, ne, nn, sub_errors, wp_error, preds)
        pred = _clip((pred8 + 3) >> 3, lo, hi)
        lms[_LMS_BASE] = pred
        pred = _clip(pred + _lms_predict(y, c, width, recon, stage1, lms), lo, hi)
    else:
        pred = _median3(w, n, w + n - nw)  # MED
        max_error = _largest(rw, rn, rnw, rne)
        if mode == MIX_MED2:  # the LMS stage on MED's residuals, as a second predictor only
            lms[_LMS_BASE] = pred
            second = _clip(pred + _lms_predict(y, c, width, recon, stage1, lms), lo, hi)
    energy = 2 * (abs(rw) + abs(rn)) + abs(rnw) + abs(rne) + abs(w - nw) + abs(n - nw) + abs(n - ne)
    level = _level(energy)
    texture = ((n > pred) + 2 * (w > pred) + 4 * (nw > pred) + 8 * (ne > pred) + 16 * (nn > pred)
               + 32 * (ww > pred))
    sw = 0 if rw == 0 else (1 if rw > 0 else 2)
    sn = 0 if rn == 0 else (1 if rn > 0 else 2)
    d1 = _clip(n - w, -4, 4) + 4
    d2 = _clip(w - nw, -4, 4) + 4
    d3 = _clip(ne - n, -4, 4) + 4
    c4 = (_clip(rw, -3, 3) + 3) * 7 + _clip(rn, -3, 3) + 3
    states[0] = (_OFFSETS[0] + 2 * min(_level(max_error), 15) + (1 if max_error < 0 else 0)) * N_SLOTS
    states[1] = (_OFFSETS[1] + level) * N_SLOTS
    states[2] = (_OFFSETS[2] + (texture * 9 + sw * 3 + sn) * 4 + min(3, level // 5)) * N_SLOTS
    states[3] = (_OFFSETS[3] + (d1 * 9 + d2) * 9 + d3) * N_SLOTS
    states[4] = (_OFFSETS[4] + c4 * 8 + min(7, level // 3)) * N_SLOTS
    average = (w + n + 1) >> 1
    if (mode & 1) == 0:
        other = _median3(w, n, w + n - nw)
    else:
        other = second if mode == MIX_MED2 else average
    states[5] = (_OFFSETS[5] + _disagreement(other - pred, level)) * N_SLOTS  # -0.4 % on 12 images
    k = 6
    if mode >= MIX_WP2:
        states[6] = (_OFFSETS[7] + _disagreement(average - pred, level)) * N_SLOTS
        k = 7
    if blocks.size:
        states[k] = (_OFFSETS[6] + 5 * np.int64(blocks[j]) + min(4, level // 4)) * N_SLOTS
    return pred, pred8, min(level, N_WEIGHT_SETS - 1)


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(counters, weights, states, inputs, n_models, wset, slot):
    """P(bit = 1) in 12 bits from the models' counters of decision ``slot``."""
    base = (wset * N_SLOTS + slot) * (N_INPUTS + 1)
    dot = 0
    for k in range(n_models):
        p1 = (rangecoder.PROB_ONE - (counters[states[k] + slot] & (rangecoder.PROB_ONE - 1))) >> 4
        inputs[k] = _STRETCH[p1]
        dot += weights[base + k] * inputs[k]
    inputs[N_INPUTS] = BIAS_INPUT
    dot += weights[base + N_INPUTS] * BIAS_INPUT
    dot = _clip(dot >> 16, -2047, 2047)
    return _SQUASH[dot + 2047]


@numba.njit(cache=True, nogil=True, inline="always")
def _learn(counters, weights, states, inputs, n_models, wset, slot, p1, bit):
    base = (wset * N_SLOTS + slot) * (N_INPUTS + 1)
    err = (bit << 12) - p1
    for k in range(n_models):
        weights[base + k] += (inputs[k] * err) >> MIX_SHIFT
    weights[base + N_INPUTS] += (inputs[N_INPUTS] * err) >> MIX_SHIFT
    for k in range(n_models):
        s = states[k] + slot
        word = counters[s]
        p0 = word & (rangecoder.PROB_ONE - 1)
        count = word >> rangecoder.PROB_BITS
        if bit:
            p0 -= p0 // (count + 2) if count < (1 << RATE_LIMIT) - 2 else p0 >> RATE_LIMIT
            if p0 < rangecoder.PROB_MIN:
                p0 = rangecoder.PROB_MIN
        else:
            gap = rangecoder.PROB_ONE - p0
            p0 += gap // (count + 2) if count < (1 << RATE_LIMIT) - 2 else gap >> RATE_LIMIT
            if p0 > rangecoder.PROB_MAX:
                p0 = rangecoder.PROB_MAX
        if count < (1 << RATE_LIMIT):
            count += 1
        counters[s] = p0 | (count << rangecoder.PROB_BITS)


@numba.njit(cache=True, nogil=True, inline="always")
def _coder_p0(p1):
    """The range coder's P(bit = 0) in 16 bits from a mixed P(bit = 1) in 12 bits."""
    return _clip((4096 - p1) << 4, rangecoder.PROB_MIN, rangecoder.PROB_MAX)


@numba.njit(cache=True, nogil=True, inline="always")
def _slot(u, e, b1):
    """Counter slot of decision ``u`` (0 zero, 1 sign, 2.. exponent, then two mantissa bits)."""
    if u == 0:
        return 0
    if u == 1:
        return 1
    if u <= 2 + e:
        return 2 + u - 2
    if u == 3 + e:
        return 2 + rangecoder.MAX_EXPONENT + 1 + e
    return 2 + 2 * (rangecoder.MAX_EXPONENT + 1) + 2 * e + b1


@numba.njit(cache=True, nogil=True)
def encode_slice(x, width, lo, hi, default, mode, counters, weights, sub_errors, wp_error, residuals, inputs, states,
                 blocks, stage1, lms, st, out, recon, start):
    """Code pixels ``start..`` of a lossless slice; returns the index reached (``out`` full).
    ``blocks``: each pixel's 8 x 8 block position (``blockgrid.positions``), or empty."""
    preds = np.zeros(8, np.int64)
    n_models = 6 + (1 if mode >= MIX_WP2 else 0) + (1 if blocks.size else 0)
    low, rng, cache, csize, pos = rangecoder.load_encoder(st)
    y = start // width
    c = start - y * width
    for j in range(start, x.size):
        if not rangecoder.has_room(pos, out):
            rangecoder.store_encoder(st, low, rng, cache, csize, pos)
            return j
        pred, pred8, wset = _contexts(j, y, c, width, recon, default, lo, hi, mode, sub_errors, wp_error, residuals,
                                      preds, states, blocks, stage1, lms)
        q = x[j] - pred
        m = -q if q < 0 else q
        e = 0
        while (m >> (e + 1)) > 0:
            e += 1
        b1 = (m >> (e - 1)) & 1 if e >= 1 else 0
        total = 1 if q == 0 else 3 + e + (e if e < 2 else 2)
        for u in range(total):
            if u == 0:
                bit = 1 if q == 0 else 0
            elif u == 1:
                bit = 1 if q < 0 else 0
            elif u <= 2 + e:
                bit = 1 if u - 2 < e else 0
            elif u == 3 + e:
                bit = b1
            else:
                bit = (m >> (e - 2)) & 1
            slot = _slot(u, e, b1)
            p1 = _mix(counters, weights, states, inputs, n_models, wset, slot)
            low, rng, cache, csize, pos = rangecoder._put(low, rng, cache, csize, pos, out, _coder_p0(p1), bit)
            _learn(counters, weights, states, inputs, n_models, wset, slot, p1, bit)
        for k in range(e - 3, -1, -1):  # raw low mantissa bits
            low, rng, cache, csize, pos = rangecoder._put(low, rng, cache, csize, pos, out, rangecoder.PROB_ONE // 2,
                                                          (m >> k) & 1)
        recon[j] = x[j]
        residuals[(y & 1) * width + c] = q
        if (mode & 1) == 0:
            _wp_update(c, y, width, x[j], pred8, sub_errors, wp_error, preds)
        if mode != MIX_MED:
            _lms_update(y, c, width, x[j], stage1, lms)
        c += 1
        if c == width:
            c = 0
            y += 1
    rangecoder.store_encoder(st, low, rng, cache, csize, pos)
    return x.size


@numba.njit(cache=True, nogil=True)
def decode_slice(width, lo, hi, default, mode, counters, weights, sub_errors, wp_error, residuals, inputs, states,
                 blocks, stage1, lms, st, buf, recon):
    """Inverse of ``encode_slice``; returns False on damaged data."""
    preds = np.zeros(8, np.int64)
    n_models = 6 + (1 if mode >= MIX_WP2 else 0) + (1 if blocks.size else 0)
    code, rng, pos, over = rangecoder.load_decoder(st)
    y = 0
    c = 0
    for j in range(recon.size):
        pred, pred8, wset = _contexts(j, y, c, width, recon, default, lo, hi, mode, sub_errors, wp_error, residuals,
                                      preds, states, blocks, stage1, lms)
        p1 = _mix(counters, weights, states, inputs, n_models, wset, 0)
        zero, code, rng, pos, over = rangecoder._get(code, rng, pos, over, buf, _coder_p0(p1))
        _learn(counters, weights, states, inputs, n_models, wset, 0, p1, zero)
        q = np.int64(0)
        if not zero:
            p1 = _mix(counters, weights, states, inputs, n_models, wset, 1)
            negative, code, rng, pos, over = rangecoder._get(code, rng, pos, over, buf, _coder_p0(p1))
            _learn(counters, weights, states, inputs, n_models, wset, 1, p1, negative)
            e = 0
            while True:
                slot = 2 + e
                p1 = _mix(counters, weights, states, inputs, n_models, wset, slot)
                more, code, rng, pos, over = rangecoder._get(code, rng, pos, over, buf, _coder_p0(p1))
                _learn(counters, weights, states, inputs, n_models, wset, slot, p1, more)
                if not more:
                    break
                e += 1
                if e >= rangecoder.MAX_EXPONENT or over > 8:
                    rangecoder.store_decoder(st, code, rng, pos, over)
                    return False
            m = np.int64(1) << e
            b1 = 0
            if e >= 1:
                slot = _slot(3 + e, e, 0)
                p1 = _mix(counters, weights, states, inputs, n_models, wset, slot)
                b1, code, rng, pos, over = rangecoder._get(code, rng, pos, over, buf, _coder_p0(p1))
                _learn(counters, weights, states, inputs, n_models, wset, slot, p1, b1)
                m |= np.int64(b1) << (e - 1)
            if e >= 2:
                slot = _slot(4 + e, e, b1)
                p1 = _mix(counters, weights, states, inputs, n_models, wset, slot)
                b2, code, rng, pos, over = rangecoder._get(code, rng, pos, over, buf, _coder_p0(p1))
                _learn(counters, weights, states, inputs, n_models, wset, slot, p1, b2)
                m |= np.int64(b2) << (e - 2)
            for k in range(e - 3, -1, -1):
                bit, code, rng, pos, over = rangecoder._get(code, rng, pos, over, buf, rangecoder.PROB_ONE // 2)
                m |= np.int64(bit) << k
            q = -m if negative else m
        value = pred + q
        if value < lo or value > hi or over > 8:
            rangecoder.store_decoder(st, code, rng, pos, over)
            return False
        recon[j] = value
        residuals[(y & 1) * width + c] = q
        if (mode & 1) == 0:
            _wp_update(c, y, width, value, pred8, sub_errors, wp_error, preds)
        if mode != MIX_MED:
            _lms_update(y, c, width, value, stage1, lms)
        c += 1
        if c == width:
            c = 0
            y += 1
    rangecoder.store_decoder(st, code, rng, pos, over)
    return True


def _blocks(positions: np.ndarray | None) -> np.ndarray:
    return np.zeros(0, dtype=np.uint8) if positions is None else np.ascontiguousarray(positions, dtype=np.uint8)


def encode(values: np.ndarray, value_range: tuple[int, int], mode: int, positions: np.ndarray | None = None) -> bytes:
    """The range-coded bytes of a lossless 2D slice (``values``: ints within ``value_range``);
    ``positions``: each pixel's 8 x 8 block position (``blockgrid.positions``) or None."""
    height, width = values.shape
    lo, hi = value_range
    x = values.ravel().astype(np.int64)
    state = new_state(width)
    recon = np.zeros(x.size, dtype=np.int64)
    rc_state, out = rangecoder.new_encoder(x.size // 2)
    start = 0
    while True:
        start = encode_slice(x, width, lo, hi, (lo + hi) // 2, mode, state["counters"], state["weights"],
                             state["sub_errors"], state["wp_error"], state["residuals"], state["inputs"],
                             state["states"], _blocks(positions), state["stage1"], state["lms"], rc_state, out, recon,
                             start)
        if start >= x.size:
            break
        out = rangecoder.grow(out)
    return out[: rangecoder.finish(rc_state, out)].tobytes()


def decode(data: bytes, shape: tuple[int, int], value_range: tuple[int, int], mode: int,
           positions: np.ndarray | None = None) -> np.ndarray | None:
    """Inverse of ``encode``; None when the data is damaged or truncated."""
    height, width = shape
    lo, hi = value_range
    state = new_state(width)
    recon = np.zeros(height * width, dtype=np.int64)
    rc_state, buf = rangecoder.new_decoder(data)
    ok = decode_slice(width, lo, hi, (lo + hi) // 2, mode, state["counters"], state["weights"], state["sub_errors"],
                      state["wp_error"], state["residuals"], state["inputs"], state["states"], _blocks(positions),
                      state["stage1"], state["lms"], rc_state, buf, recon)
    if not ok or rangecoder.overran(rc_state):
        return None
    return recon.reshape(height, width)
