"""Raster-order pixel model (numba): predict, code and store each pixel in turn.

Why raster order: every pixel then has its four nearest causal neighbours (W, N, NW, NE)
decoded, and the reference slices' values at the same places, so "reference + local
offset" predictions are sharp everywhere (coarse-to-fine interlacing left a quarter of
the pixels far from any decoded neighbour). Per pixel:

1. predictors: 5 of the slice itself (MED, W + NE - N, W, N, W + N - NW) and 4 per
   reference image (R + offset at W, at N, median of the offsets, their mean), clipped to
   the image's range;
2. blend: weights 2**24 // (e + 1)**2 (a table), e = each predictor's summed error at W, N, NW, NE
   (JPEG XL's weighted predictor, in integers);
3. contexts: error energy (final errors around the pixel, gradients and how far the
   predictors disagree) in 20 levels, x ROI / NROI, x "a neighbour is background";
   a "pixel is background" flag with its own contexts;
4. the residual, quantized with step 2e + 1 (e = the pixel's bound), goes through the
   adaptive binary range coder (``rangecoder``), or adaptive Huffman codes (``prefix``)
   with run modes and pair symbols (``encode_slice_prefix``).

Integer arithmetic only: any machine decodes bit-exactly.
"""

from __future__ import annotations

import numba
import numpy as np

from medroi.codec import blockgrid, prefix, rangecoder

N_SPATIAL = 5
#: Huffman pair symbols: 3 * (q + 1) + q' + 1 for two residuals in {-1, 0, 1}; PAIR_HALF + q + 1
#: for one (the next pixel coded on its own); PAIR_ESCAPE: this pixel coded on its own
PAIR_HALF = 9
PAIR_ESCAPE = 12
N_PAIR_SYMBOLS = 13
PAIR_LEVELS = 20  # activity levels (of 20) where pairs are tried
PAIR_WARMUP = 32  # pair symbols seen in a context before its escape rate counts
PAIR_MAX_ESCAPES = 4  # pairs stay on in a context while at most 1 in this many of its pair symbols escaped
COUNT_WEIGHT_2 = 16  # model 2: a coded symbol counts this much against the prior of 1 per symbol
COUNT_LIMIT_2 = 1 << 15  # model 2: a table's counts are halved beyond this (~2000 symbols)
REBUILD_PERIOD = 1 << 15  # codes are rebuilt every this many symbols of a slice (after 16, 32, ...)
REBUILD_PERIOD_2 = 1 << 10  # model 2
PAIR_MAX_MISFITS_2 = 8  # model 2: pairs stay on while at most 1 in this many recent candidates did not fit
PAIR_STATS_LIMIT = 256  # model 2: candidates' outcomes are halved at this count
_N_SIGN_BIAS = 9 * 4 * 4 * 20  # residual context (with block class) x signs of the W and N errors
N_BIAS_CONTEXTS = _N_SIGN_BIAS + 256 * 4  # then CALIC texture x energy level (format 3, no references)
N_PER_REFERENCE = 4
#: prediction modes (``med_only``): the blend; MED with activity contexts; MED with one context
#: per exact small local difference (format 4, range coder only)
PREDICT_BLEND, PREDICT_MED, PREDICT_MED_EXACT = 0, 1, 2
#: lossless 2D slices coded by context mixing (``mixing``): JPEG XL's weighted predictor, or MED;
#: generation 1 (format 5) and generation 2 (format 6, one more model)
PREDICT_WP_MIX, PREDICT_MED_MIX = 3, 4
PREDICT_WP_MIX2, PREDICT_MED_MIX2 = 5, 6
MIX_MODES = (PREDICT_WP_MIX, PREDICT_MED_MIX, PREDICT_WP_MIX2, PREDICT_MED_MIX2)
#: lossless planes of a colour image (format 6): the first coded by mixing generation 2, each
#: other as its difference from the plane before (JPEG XL's "subtract green", generalised)
PREDICT_WP_PLANES2, PREDICT_MED_PLANES2 = 7, 8
PLANE_MIX_MODES = (PREDICT_WP_PLANES2, PREDICT_MED_PLANES2)
MAX_PLANES = 4
EXACT_CLAMP = 6  # N - W, W - NW and NE - N (in steps of the bound) clamped to +-6: 13**3 contexts
_EXACT_SIDE = 2 * EXACT_CLAMP + 1
_N_EXACT = _EXACT_SIDE ** 3
N_EXACT_CONTEXTS = 2 * _N_EXACT  # x (the rest, the ROI) when their bounds differ
WEIGHT_ONE = 1 << 24
_MAX_EVIDENCE = 4096  # weight 1 from here on
#: blend weight per summed error e: max(1, WEIGHT_ONE // (e + 1)**2) (a table: no division per predictor)
_WEIGHTS = np.maximum(1, WEIGHT_ONE // (np.arange(1, _MAX_EVIDENCE + 1, dtype=np.int64) ** 2))
_ERROR_CAP = 1 << 30
#: a predictor's stored error: capped where the blend's evidence saturates anyway
#: (min(sum of 4, cap) is unchanged), so it fits int16: half the memory traffic
_PREDICTOR_ERROR_CAP = _MAX_EVIDENCE - 1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _round_div(numerator: np.int64, denominator: np.int64) -> np.int64:
    """round(numerator / denominator) for denominator > 0, ties to even (unbiased)."""
    quotient = numerator // denominator
    twice_remainder = 2 * (numerator - quotient * denominator)
    if twice_remainder > denominator or (twice_remainder == denominator and (quotient & 1) == 1):
        quotient += 1
    return quotient


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _median3(a, b, c):
    if a > b:
        a, b = b, a
    if b > c:
        b = c
    return a if a > b else b


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _clip(v, lo, hi):
    return lo if v < lo else (hi if v > hi else v)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _exact_context(w, nn, nw, ne, step, n_activity):
    """(residual context, sign) of PREDICT_MED_EXACT: one context per exact (N - W, W - NW, NE - N)
    in steps, each clamped to +-EXACT_CLAMP, after the activity contexts; a pattern and its
    negative share a context, the residual coded negated for the negative one (JPEG-LS's sign
    folding). On radiographs whose neighbour differences sit on a comb (0, +-3, +-6:
    mhh_82a78c13) the residual does too, which activity contexts average away (ideal code
    length 149 -> 119 kB; benchmarks/yardstick_gradient_contexts.py)."""
    g1 = _clip((nn - w) // step, -EXACT_CLAMP, EXACT_CLAMP)
    g2 = _clip((w - nw) // step, -EXACT_CLAMP, EXACT_CLAMP)
    g3 = _clip((ne - nn) // step, -EXACT_CLAMP, EXACT_CLAMP)
    sign = 1
    if g1 < 0 or (g1 == 0 and (g2 < 0 or (g2 == 0 and g3 < 0))):
        g1, g2, g3, sign = -g1, -g2, -g3, -1
    index = ((g1 + EXACT_CLAMP) * _EXACT_SIDE + g2 + EXACT_CLAMP) * _EXACT_SIDE + g3 + EXACT_CLAMP
    return 4 * blockgrid.N_CLASSES * n_activity + 1 + index, sign


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _quantize(residual, e, step):
    """Residual ``residual`` quantized with step 2e + 1, rounding to the nearest (lossless: itself, no division)."""
    if e == 0:
        return residual
    q = (abs(residual) + e) // step
    return -q if residual < 0 else q


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _neighbours(j, c, width):
    """Flat indices of W, N, NW, NE of pixel ``j`` in column ``c`` (-1 for the first pixel);
    missing ones borrow a partner. The caller tracks ``c``: no division per pixel."""
    if j < width:
        if j == 0:
            return -1, -1, -1, -1
        return j - 1, j - 1, j - 1, j - 1
    n = j - width
    ne = n + 1 if c < width - 1 else n
    if c == 0:
        return n, n, n, ne
    return j - 1, n, n - 1, ne


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _flat_references(refs, j, iw, i_n, inw, ine, lo):
    """Whether every reference is ``lo`` at the pixel and its four neighbours."""
    for r in range(refs.shape[1]):
        if refs[j, r] != lo or refs[iw, r] != lo or refs[i_n, r] != lo or refs[inw, r] != lo or refs[ine, r] != lo:
            return False
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _all_background(recon, refs, j, iw, i_n, inw, ine, lo):
    """Whether W, N, NW, NE and every reference at the pixel and around it are ``lo``."""
    return (recon[iw] == lo and recon[i_n] == lo and recon[inw] == lo and recon[ine] == lo
            and _flat_references(refs, j, iw, i_n, inw, ine, lo))


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _deep_background(j, c, width, recon, refs, lo):
    """Whether pixel ``j`` (not the first) is deep in the background (``_all_background``)."""
    if j == 0:
        return False
    iw, i_n, inw, ine = _neighbours(j, c, width)
    return _all_background(recon, refs, j, iw, i_n, inw, ine, lo)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _flag_context(ref_state, n_background):
    """The background flag's context: background neighbours (0-4) x reference (none / background / not)."""
    return 5 * ref_state + n_background


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _deep_flag_context(refs):
    """The flag context ``_predict`` gives a deep-background pixel (its reference, if any, is ``lo``)."""
    return _flag_context(0 if refs.shape[1] == 0 else 1, 4)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _predict(j, c, width, recon, refs, errors, final_error, lo, hi, buckets, step, in_roi, split, n_activity,
             preds, default, bias_sum, bias_cnt, med_only, block, model3):
    """Blended prediction, residual context and flag context of pixel ``j`` (fills ``preds``);
    ``med_only``: the prediction is MED alone, without bias correction (bias context -1);
    ``block``: each pixel's block-edge class (``blockgrid.classes``), or empty; ``model3``
    (format 3): blend evidence from six neighbours (W and N x 3, NW and NE x 2, WW and NN x 1,
    over 3) and, without references, CALIC's texture contexts for the bias (X-rays -1 %)."""
    iw, i_n, inw, ine = _neighbours(j, c, width)
    iww = j - 2 if c >= 2 else iw  # two to the left / two up, where they exist
    inn = j - 2 * width if j >= 2 * width else i_n
    n_refs = refs.shape[1]
    n_pred = preds.size
    if iw < 0:
        for k in range(n_pred):
            preds[k] = default
        ref_state = 0 if n_refs == 0 else (1 if refs[j, 0] == lo else 2)
        return default, n_activity - 1, _flag_context(ref_state, 0), -1
    w = recon[iw]
    nn = recon[i_n]
    nw = recon[inw]
    ne = recon[ine]
    if _all_background(recon, refs, j, iw, i_n, inw, ine, lo):
        # background (most of a skull-stripped volume): every predictor is lo, so the blend
        # is lo whatever the weights; the same result as below, ~4x faster
        for k in range(n_pred):
            preds[k] = lo
        pmin = lo
        pmax = lo
        blended = lo
    else:
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
            preds[base + 3] = ref + ((dw + dn + dnw + dne + 2) >> 2)
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
            evidence = np.int64(errors[iw, k]) + np.int64(errors[i_n, k]) + np.int64(errors[inw, k]) + np.int64(
                errors[ine, k]
            )
            if model3:
                evidence = (2 * evidence + np.int64(errors[iw, k]) + np.int64(errors[i_n, k])
                            + np.int64(errors[iww, k]) + np.int64(errors[inn, k])) // 3
            weight = _WEIGHTS[evidence if evidence < _MAX_EVIDENCE else _MAX_EVIDENCE - 1]
            numerator += weight * p
            total += weight
        blended = _clip(_round_div(numerator, total), lo, hi)
    few = np.int64(final_error[iw])
    fen = np.int64(final_error[i_n])
    energy = 2 * (abs(few) + abs(fen)) + abs(np.int64(final_error[inw])) + abs(np.int64(final_error[ine]))
    gradients = abs(w - nw) + abs(nn - nw) + abs(nn - ne)
    activity = energy + gradients + (pmax - pmin)
    # lossless (step 1): floor division by 2 is a shift (same result, no division)
    activity = activity >> 1 if step == 1 else activity // (2 * step)
    # ``buckets``: the level of each activity value (a table, not a search per pixel)
    bucket = buckets[activity if activity < buckets.size else buckets.size - 1]
    if split and in_roi:
        bucket += n_activity
    n_background = (w == lo) + (nn == lo) + (nw == lo) + (ne == lo)
    if n_background > 0:
        bucket += 2 * n_activity
    if block.size > 0:  # JPEG's 8 x 8 grid (``blockgrid``): next to a block edge or not
        bucket += 4 * n_activity * block[j]
    ref_state = 0 if n_refs == 0 else (1 if refs[j, 0] == lo else 2)
    if med_only:
        # MED picks a neighbour's value (or W + N - NW): on images whose values sit on a
        # lattice (contrast-stretched 8-bit radiographs) residuals stay on it, which a blend
        # or a bias correction smears (mhh_82a78c13: 11 % smaller)
        if med_only == PREDICT_MED_EXACT:  # bias context -2: the residual is coded negated
            bucket, sign = _exact_context(w, nn, nw, ne, step, n_activity)
            bucket += _N_EXACT if split and in_roi else 0
            return preds[0], bucket, _flag_context(ref_state, n_background), -1 if sign > 0 else -2
        return preds[0], bucket, _flag_context(ref_state, n_background), -1
    if model3 and n_refs == 0:  # a slice without references (2D images, a group's first slice): CALIC's
        # texture, which of 8 causal values (and gradients) lie above the prediction, x 4 energy levels;
        # with references the activity x error-sign contexts below (texture: up to +10 % on smooth volumes)
        ww = recon[iww]
        nnv = recon[inn]
        texture = ((nn > blended) + 2 * (w > blended) + 4 * (nw > blended) + 8 * (ne > blended)
                   + 16 * (nnv > blended) + 32 * (ww > blended) + 64 * (2 * nn - nnv > blended)
                   + 128 * (2 * w - ww > blended))
        bias_ctx = _N_SIGN_BIAS + texture * 4 + (bucket % n_activity) // 5
    else:
        bias_ctx = (bucket * 9 + 3 * (0 if few == 0 else (1 if few > 0 else 2))
                    + (0 if fen == 0 else (1 if fen > 0 else 2)))
    if bias_cnt[bias_ctx] > 0:
        blended = _clip(blended + _round_div(bias_sum[bias_ctx], bias_cnt[bias_ctx]), lo, hi)
    return blended, bucket, _flag_context(ref_state, n_background), bias_ctx


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
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
        errors[j, k] = e if e < _PREDICTOR_ERROR_CAP else _PREDICTOR_ERROR_CAP


@numba.njit(cache=True, nogil=True, error_model="numpy")
def encode_slice(x, bound, coded, in_roi, refs, lo, hi, split, use_flag, buckets, n_activity, models,
                 n_ctx_states, st, out, recon, errors, final_error, width, default, bias_sum, bias_cnt, start, skip,
                 med_only, block):
    """Code pixels ``start..`` in raster order; returns the index reached (``out`` full).
    ``skip`` (format 3): a pixel deep in the background (``_deep_background``) codes its flag
    alone and, when it is background, skips prediction, bias and error bookkeeping (its
    errors are 0 whatever the model: every predictor is ``lo``); ~80 % of a brain volume."""
    preds = np.zeros(errors.shape[1], np.int64)
    c = start % width
    low, rng, cache, csize, pos = rangecoder.load_encoder(st)  # locals: registers, not memory, per bit
    for j in range(start, x.size):
        if not rangecoder.has_room(pos, out):
            rangecoder.store_encoder(st, low, rng, cache, csize, pos)
            return j
        e = bound[j]
        step = 2 * e + 1
        deep = skip and use_flag and coded[j] and _deep_background(j, c, width, recon, refs, lo)
        if deep:  # format 3: the flag alone; a background pixel then costs no model work
            flag = 1 if x[j] - lo <= e else 0
            low, rng, cache, csize, pos = rangecoder.encode_bit(low, rng, cache, csize, pos, out, models,
                                                                n_ctx_states + _deep_flag_context(refs), flag)
            if flag:
                recon[j] = lo  # its errors and final error stay 0 (as allocated)
                c += 1
                if c == width:
                    c = 0
                continue
        blended, ctx, flag_ctx, bias_ctx = _predict(j, c, width, recon, refs, errors, final_error, lo, hi, buckets,
                                                    step, in_roi[j], split, n_activity, preds, default, bias_sum,
                                                    bias_cnt, med_only, block, skip)
        if coded[j]:
            flag = 1 if (use_flag and not deep and x[j] - lo <= e) else 0
            q = _quantize(x[j] - blended, e, step)
            low, rng, cache, csize, pos = rangecoder.encode_one(low, rng, cache, csize, pos, out, models,
                                                                n_ctx_states, ctx,
                                                                flag_ctx if use_flag and not deep else -1, flag,
                                                                -q if bias_ctx == -2 else q)
            value = lo if flag else _clip(blended + q * step, lo, hi)
        else:
            value = recon[j]  # set by the caller (the network's reconstruction)
        _store(j, value, blended, preds, recon, errors, final_error, bias_ctx, bias_sum, bias_cnt)
        c += 1
        if c == width:
            c = 0
    rangecoder.store_encoder(st, low, rng, cache, csize, pos)
    return x.size


@numba.njit(cache=True, nogil=True, error_model="numpy")
def decode_slice(bound, coded, in_roi, refs, lo, hi, split, use_flag, buckets, n_activity, models,
                 n_ctx_states, st, buf, recon, errors, final_error, width, default, bias_sum, bias_cnt, skip,
                 med_only, block):
    """Inverse of ``encode_slice``; returns False on damaged data."""
    preds = np.zeros(errors.shape[1], np.int64)
    c = 0
    code, rng, pos, over = rangecoder.load_decoder(st)  # locals: registers, not memory, per bit
    for j in range(recon.size):
        e = bound[j]
        step = 2 * e + 1
        deep = skip and use_flag and coded[j] and _deep_background(j, c, width, recon, refs, lo)
        if deep:
            flag, code, rng, pos, over = rangecoder.decode_bit(code, rng, pos, over, buf, models,
                                                               n_ctx_states + _deep_flag_context(refs))
            if flag:
                recon[j] = lo
                c += 1
                if c == width:
                    c = 0
                continue
        blended, ctx, flag_ctx, bias_ctx = _predict(j, c, width, recon, refs, errors, final_error, lo, hi, buckets,
                                                    step, in_roi[j], split, n_activity, preds, default, bias_sum,
                                                    bias_cnt, med_only, block, skip)
        if coded[j]:
            flag, q, ok, code, rng, pos, over = rangecoder.decode_one(code, rng, pos, over, buf, models,
                                                                      n_ctx_states, ctx,
                                                                      flag_ctx if use_flag and not deep else -1)
            if not ok:
                rangecoder.store_decoder(st, code, rng, pos, over)
                return False
            if bias_ctx == -2:  # PREDICT_MED_EXACT's sign folding
                q = -q
            value = lo if flag else _clip(blended + q * step, lo, hi)
        else:
            value = recon[j]
        _store(j, value, blended, preds, recon, errors, final_error, bias_ctx, bias_sum, bias_cnt)
        c += 1
        if c == width:
            c = 0
    rangecoder.store_decoder(st, code, rng, pos, over)
    return True


def n_predictors(n_refs: int) -> int:
    """How many predictors a slice with ``n_refs`` references blends."""
    return N_SPATIAL + N_PER_REFERENCE * n_refs


# --------------------------------------------------------------------------- Huffman


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _run_value(j, c, width, recon):
    """JPEG-LS run mode: (W, whether pixel ``j`` starts a run: its causal neighbours are
    all equal; a run then codes how many pixels are within the bound of W)."""
    iw, i_n, inw, ine = _neighbours(j, c, width)
    if iw < 0:
        return -1, False
    w = recon[iw]
    return w, recon[i_n] == w and recon[inw] == w and recon[ine] == w


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _background_end(recon, j, width, row_end, lo):
    """Where the row above stops being background from column of ``j`` on (``row_end`` if it
    does not): the predicted end of a background run starting at ``j`` (Huffman model 2)."""
    k = j
    while k < row_end and recon[k - width] == lo:
        k += 1
    return k


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _length_class(r):
    """A run length's class: its bit length (0 for 0)."""
    cls = 0
    while (r >> cls) > 0:
        cls += 1
    return cls


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _put_length(st, out, codes, lengths, table, r):
    """A run length: its class in ``table``, then the bits below the leading one."""
    cls = _length_class(r)
    prefix.put_symbol(st, out, codes, lengths, table, cls)
    if cls > 1:
        prefix.put_bits(st, out, r - (np.int64(1) << (cls - 1)), cls - 1)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _get_length(st, buf, cls):
    """Inverse of ``_put_length`` once the class is read."""
    if cls < 1:
        return np.int64(0)
    return (np.int64(1) << (cls - 1)) + prefix.get_bits(st, buf, cls - 1)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty, inc, c, s, n_symbols):
    """Count symbol ``s`` of table ``c`` (``inc`` times: the weight of the data against the
    codes' prior of 1 per symbol); rebuild the changed codes at a rebuild point."""
    counts[c, s] += inc
    dirty[c] = True
    n_symbols += 1
    if prefix.is_rebuild_point(n_symbols, REBUILD_PERIOD if inc == 1 else REBUILD_PERIOD_2):
        prefix.rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty,
                       prefix.COUNT_LIMIT if inc == 1 else COUNT_LIMIT_2)
    return n_symbols


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pair_candidate(pairs, j, c, width, ctx, n_activity, coded, bound):
    """Whether pixel ``j`` and its right neighbour are both coded with a bound > 0 (and
    pairs are on, in a context level where they are tried)."""
    return (pairs and c + 1 < width and bound[j] > 0 and ctx % n_activity < PAIR_LEVELS and coded[j + 1]
            and bound[j + 1] > 0)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pair_outcome(pair_stats, ctx, bad):
    """Model 2: count whether a pair candidate's first pixel fitted a pair (|q| <= 1, not
    background), halving at ``PAIR_STATS_LIMIT``: a context whose pairs were switched off
    keeps learning and switches them on again when its residuals get small."""
    pair_stats[ctx, 0] += 1
    pair_stats[ctx, 1] += bad
    if pair_stats[ctx, 0] >= PAIR_STATS_LIMIT:
        pair_stats[ctx, 0] //= 2
        pair_stats[ctx, 1] //= 2


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pair_eligible(pairs, j, c, width, ctx, n_activity, coded, bound, counts, model2, pair_stats):
    """Whether pixel ``j`` and its right neighbour may share one symbol: both coded with a
    bound > 0, in a quiet context (where a zero residual is so likely that a Huffman code,
    at least one bit per symbol, wastes most of a bit on each) whose pair table has not
    seen too many escapes (busy contexts switch pairs off by themselves; model 2: by the
    recent outcomes of every candidate, so they can switch back on)."""
    if not _pair_candidate(pairs, j, c, width, ctx, n_activity, coded, bound):
        return False
    if model2:
        return pair_stats[ctx, 0] < PAIR_WARMUP or PAIR_MAX_MISFITS_2 * pair_stats[ctx, 1] <= pair_stats[ctx, 0]
    table = 4 * n_activity + ctx
    total = 0
    for s in range(N_PAIR_SYMBOLS):
        total += counts[table, s]
    return total < PAIR_WARMUP or PAIR_MAX_ESCAPES * counts[table, PAIR_ESCAPE] <= total


@numba.njit(cache=True, nogil=True, error_model="numpy")
def encode_slice_prefix(x, bound, coded, in_roi, refs, lo, hi, split, use_flag, buckets, n_activity, counts,
                        lengths, codes, first, offset, sorted_symbols, alphabet, dirty, st, out, recon, errors,
                        final_error, width, default, bias_sum, bias_cnt, start, progress, pairs, med_only, block, model2, pair_stats):
    """``encode_slice`` with Huffman codes, JPEG-LS's run mode (flat and background runs)
    and, with ``pairs``, one symbol for two small residuals in quiet near-lossless contexts
    (alphabet extension). ``model2`` (header ``huffman_model`` 2): a run's length is coded
    as its difference from where the row above stops repeating the run's value, a run at a
    row's start whose row above repeats it throughout first codes how many whole rows do
    too, a run reaching its row's end lets the next pixel start one, pairs switch by the
    recent outcomes of every candidate (``pair_stats``), and tables count symbols x
    ``COUNT_WEIGHT_2``, halve at ``COUNT_LIMIT_2`` and rebuild every ``REBUILD_PERIOD_2``;
    resumable at ``start`` with ``progress`` = [symbols coded, end of
    the current run, pixel that starts no run, the run's value, pixel that starts no whole-row run]."""
    preds = np.zeros(errors.shape[1], np.int64)
    run_table = 8 * n_activity + 1
    inc = COUNT_WEIGHT_2 if model2 else 1
    predicted_run_table = run_table + 1
    rows_table = run_table + 3
    pair_base = 4 * n_activity
    c = start % width
    j = start
    while j < x.size:
        if not prefix.has_room(st, out):
            return j
        run_value, starts_run = _run_value(j, c, width, recon)
        if coded[j] and j >= progress[1] and j != progress[2] and starts_run:
            table = run_table if run_value == lo else run_table - 1
            row_end = (j // width + 1) * width
            rows = 0
            if (model2 and c == 0 and j >= width and j != progress[4]
                    and _background_end(recon, j, width, row_end, run_value) == row_end):
                # the row above repeats the value throughout: how many whole rows do too (one
                # symbol for the background above and below a brain, not one per row)
                while j + (rows + 1) * width <= x.size:
                    k = j + rows * width
                    full = True
                    for i in range(k, k + width):
                        if not coded[i] or abs(x[i] - run_value) > bound[i]:
                            full = False
                            break
                    if not full:
                        break
                    rows += 1
                _put_length(st, out, codes, lengths, rows_table, rows)
                progress[0] = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty, inc,
                                             rows_table, _length_class(rows), progress[0])
            if rows > 0:
                r = rows * width
                progress[2] = -1
                progress[4] = j + r  # its row is not whole: no rows symbol there
            else:
                r = 0
                while j + r < row_end and coded[j + r] and abs(x[j + r] - run_value) <= bound[j + r]:
                    r += 1
                if model2 and j >= width:
                    # the length minus where the row above stops being the run's value: a few bits, not ~8
                    s, raw, n_raw = prefix.residual_symbol(r - (_background_end(recon, j, width, row_end, run_value) - j))
                    table = predicted_run_table + (run_value != lo)
                    prefix.put_symbol(st, out, codes, lengths, table, s)
                    if n_raw:
                        prefix.put_bits(st, out, raw, n_raw)
                    progress[0] = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet,
                                                 dirty, inc, table, s, progress[0])
                else:
                    _put_length(st, out, codes, lengths, table, r)
                    progress[0] = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet,
                                                 dirty, inc, table, _length_class(r), progress[0])
                # the pixel after a run is known to break it, unless the run reached the row's end (model 2)
                progress[2] = j + r if not model2 or j + r < row_end else -1
            progress[1] = j + r
            progress[3] = run_value
        e = bound[j]
        step = 2 * e + 1
        blended, ctx, flag_ctx, bias_ctx = _predict(j, c, width, recon, refs, errors, final_error, lo, hi, buckets,
                                                    step, in_roi[j], split, n_activity, preds, default, bias_sum,
                                                    bias_cnt, med_only, block, pairs)
        if j < progress[1]:
            value = progress[3]
        elif coded[j]:
            candidate = model2 and _pair_candidate(pairs, j, c, width, ctx, n_activity, coded, bound)
            if _pair_eligible(pairs, j, c, width, ctx, n_activity, coded, bound, counts, model2, pair_stats):
                table = pair_base + ctx
                q = _quantize(x[j] - blended, e, step)
                if (use_flag and x[j] - lo <= e) or q < -1 or q > 1:
                    prefix.put_symbol(st, out, codes, lengths, table, PAIR_ESCAPE)  # j alone, below
                    progress[0] = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet,
                                                 dirty, inc, table, PAIR_ESCAPE, progress[0])
                else:
                    # j is final before j + 1 is predicted (the decoder does the same)
                    _store(j, _clip(blended + q * step, lo, hi), blended, preds, recon, errors, final_error,
                           bias_ctx, bias_sum, bias_cnt)
                    k = j + 1
                    e1 = bound[k]
                    step1 = 2 * e1 + 1
                    blended1, ctx1, flag_ctx1, bias_ctx1 = _predict(k, c + 1, width, recon, refs, errors,
                                                                    final_error, lo, hi, buckets, step1, in_roi[k],
                                                                    split, n_activity, preds, default, bias_sum,
                                                                    bias_cnt, med_only, block, pairs)
                    q1 = _quantize(x[k] - blended1, e1, step1)
                    if (use_flag and x[k] - lo <= e1) or q1 < -1 or q1 > 1:
                        symbol = PAIR_HALF + q + 1  # j + 1 is coded on its own next
                        advance = 1
                    else:
                        symbol = 3 * (q + 1) + q1 + 1
                        _store(k, _clip(blended1 + q1 * step1, lo, hi), blended1, preds, recon, errors, final_error,
                               bias_ctx1, bias_sum, bias_cnt)
                        advance = 2
                    prefix.put_symbol(st, out, codes, lengths, table, symbol)
                    progress[0] = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet,
                                                 dirty, inc, table, symbol, progress[0])
                    if candidate:
                        _pair_outcome(pair_stats, ctx, 0)
                    j += advance
                    c += advance
                    if c == width:
                        c = 0
                    continue
            if use_flag and x[j] - lo <= e:
                s, raw, n_raw = prefix.SYM_BACKGROUND, np.int64(0), 0
                value = lo
            else:
                q = _quantize(x[j] - blended, e, step)
                s, raw, n_raw = prefix.residual_symbol(q)
                value = _clip(blended + q * step, lo, hi)
            prefix.put_symbol(st, out, codes, lengths, ctx, s)
            if n_raw:
                prefix.put_bits(st, out, raw, n_raw)
            progress[0] = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty, inc, ctx, s, progress[0])
            if candidate:  # symbols 1-3: q = 0, 1, -1
                _pair_outcome(pair_stats, ctx, 1 if s == prefix.SYM_BACKGROUND or s > 3 else 0)
        else:
            value = recon[j]
        _store(j, value, blended, preds, recon, errors, final_error, bias_ctx, bias_sum, bias_cnt)
        j += 1
        c += 1
        if c == width:
            c = 0
    return x.size


@numba.njit(cache=True, nogil=True, error_model="numpy")
def decode_slice_prefix(bound, coded, in_roi, refs, lo, hi, split, use_flag, buckets, n_activity, counts,
                        lengths, codes, first, offset, sorted_symbols, alphabet, dirty, st, buf, recon, errors,
                        final_error, width, default, bias_sum, bias_cnt, pairs, med_only, block, model2, pair_stats):
    """Inverse of ``encode_slice_prefix``; returns False on damaged data."""
    preds = np.zeros(errors.shape[1], np.int64)
    run_table = 8 * n_activity + 1
    inc = COUNT_WEIGHT_2 if model2 else 1
    predicted_run_table = run_table + 1
    rows_table = run_table + 3
    pair_base = 4 * n_activity
    n_symbols = 0
    run_end = 0
    no_run = -1
    no_rows = -1
    current_run = lo
    c = 0
    j = 0
    while j < recon.size:
        run_value, starts_run = _run_value(j, c, width, recon)
        if coded[j] and j >= run_end and j != no_run and starts_run:
            table = run_table if run_value == lo else run_table - 1
            row_end = (j // width + 1) * width
            rows = np.int64(0)
            if (model2 and c == 0 and j >= width and j != no_rows
                    and _background_end(recon, j, width, row_end, run_value) == row_end):
                cls = prefix.get_symbol(st, buf, first, offset, sorted_symbols, rows_table)
                if cls < 0:
                    return False
                rows = _get_length(st, buf, cls)
                n_symbols = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty, inc,
                                           rows_table, cls, n_symbols)
            if rows > 0:
                r = rows * width
                if j + r > recon.size:
                    return False
                no_run = -1
                no_rows = j + r
            else:
                if model2 and j >= width:
                    table = predicted_run_table + (run_value != lo)
                    cls = prefix.get_symbol(st, buf, first, offset, sorted_symbols, table)
                    if cls < 0:
                        return False
                    raw = np.int64(0)
                    if cls >= 2 * prefix.N_DIRECT + 2:
                        raw = prefix.get_bits(st, buf, prefix.residual_bits(cls))
                    r = _background_end(recon, j, width, row_end, run_value) - j + prefix.residual_value(cls, raw)
                else:
                    cls = prefix.get_symbol(st, buf, first, offset, sorted_symbols, table)
                    if cls < 0:
                        return False
                    r = _get_length(st, buf, cls)
                if r < 0 or j + r > row_end:
                    return False
                n_symbols = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty, inc,
                                           table, cls, n_symbols)
                no_run = j + r if not model2 or j + r < row_end else -1
            if st[3] > 8:
                return False
            for k in range(j, j + r):
                if not coded[k]:
                    return False
            run_end = j + r
            current_run = run_value
        e = bound[j]
        step = 2 * e + 1
        blended, ctx, flag_ctx, bias_ctx = _predict(j, c, width, recon, refs, errors, final_error, lo, hi, buckets,
                                                    step, in_roi[j], split, n_activity, preds, default, bias_sum,
                                                    bias_cnt, med_only, block, pairs)
        if j < run_end:
            value = current_run
        elif coded[j]:
            candidate = model2 and _pair_candidate(pairs, j, c, width, ctx, n_activity, coded, bound)
            if _pair_eligible(pairs, j, c, width, ctx, n_activity, coded, bound, counts, model2, pair_stats):
                table = pair_base + ctx
                symbol = prefix.get_symbol(st, buf, first, offset, sorted_symbols, table)
                if symbol < 0 or symbol >= N_PAIR_SYMBOLS or st[3] > 8:
                    return False
                n_symbols = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty, inc,
                                           table, symbol, n_symbols)
                if symbol != PAIR_ESCAPE:
                    if candidate:
                        _pair_outcome(pair_stats, ctx, 0)
                    q = symbol - PAIR_HALF - 1 if symbol >= PAIR_HALF else symbol // 3 - 1
                    _store(j, _clip(blended + q * step, lo, hi), blended, preds, recon, errors, final_error, bias_ctx,
                           bias_sum, bias_cnt)
                    advance = 1
                    if symbol < PAIR_HALF:
                        k = j + 1
                        e1 = bound[k]
                        step1 = 2 * e1 + 1
                        blended1, ctx1, flag_ctx1, bias_ctx1 = _predict(k, c + 1, width, recon, refs, errors,
                                                                        final_error, lo, hi, buckets, step1,
                                                                        in_roi[k], split, n_activity, preds, default,
                                                                        bias_sum, bias_cnt, med_only, block, pairs)
                        _store(k, _clip(blended1 + (symbol % 3 - 1) * step1, lo, hi), blended1, preds, recon, errors,
                               final_error, bias_ctx1, bias_sum, bias_cnt)
                        advance = 2
                    j += advance
                    c += advance
                    if c == width:
                        c = 0
                    continue
            s = prefix.get_symbol(st, buf, first, offset, sorted_symbols, ctx)
            if s < 0 or st[3] > 8:
                return False
            if s == prefix.SYM_BACKGROUND:
                if not use_flag:
                    return False
                value = lo
            else:
                raw = np.int64(0)
                if s >= 2 * prefix.N_DIRECT + 2:
                    raw = prefix.get_bits(st, buf, prefix.residual_bits(s))
                q = prefix.residual_value(s, raw)
                value = _clip(blended + q * step, lo, hi)
            n_symbols = _count_rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty, inc, ctx, s, n_symbols)
            if candidate:
                _pair_outcome(pair_stats, ctx, 1 if s == prefix.SYM_BACKGROUND or s > 3 else 0)
        else:
            value = recon[j]
        _store(j, value, blended, preds, recon, errors, final_error, bias_ctx, bias_sum, bias_cnt)
        j += 1
        c += 1
        if c == width:
            c = 0
    return True
