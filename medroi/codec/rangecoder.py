"""Adaptive binary range coder (numba) for a slice's pixels: a "pixel is background" flag
and the quantized residuals, each binarized and coded with probabilities that adapt as
the slice is coded.

Why: a fixed per-slice table cannot spend much less than a bit per decision on rare
events and cannot follow the statistics inside a slice; adaptive binary models (as in
FFV1 / CABAC) spend ~0.001 bit on a background voxel and learn every context's law as
they go. Integer arithmetic only (LZMA-style carry-less range coder, 16-bit
probabilities), so any machine decodes bit-exactly.

Binarization of a residual q in context c: "q == 0"; sign; exponent e = bitlength(|q|) - 1
in unary; the two top mantissa bits adaptive (per c, e); lower bits raw.
"""

from __future__ import annotations

import numba
import numpy as np

PROB_BITS = 16
PROB_ONE = 1 << PROB_BITS
PROB_MIN = 32
PROB_MAX = PROB_ONE - PROB_MIN
MAX_EXPONENT = 40  # |q| < 2**40: far above any int32 image's residual; larger = damage
_RATES = np.array([1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5] + [5] * 16 + [6] * 32 + [7], dtype=np.int64)
N_RATES = _RATES.size

# states per residual context
_S_ZERO = 0
_S_SIGN = 1
_S_EXP = 2
_S_MANT1 = _S_EXP + MAX_EXPONENT + 1
_S_MANT2 = _S_MANT1 + MAX_EXPONENT + 1
N_STATES = _S_MANT2 + 2 * (MAX_EXPONENT + 1)

# one pixel writes at most ~70 bytes (46 adaptive decisions of <= 11 bits + 38 raw bits)
_SPARE = 256
# encoder state slots: low, range, cache, cache_size, position
_LOW, _RANGE, _CACHE, _CSIZE, _POS = 0, 1, 2, 3, 4
# decoder state slots: code, range, position, overrun
_CODE, _DRANGE, _DPOS, _OVER = 0, 1, 2, 3


def new_models(n_contexts: int, n_flag_contexts: int) -> tuple[np.ndarray, np.ndarray]:
    """Fresh probabilities (P(bit = 0) * 2**16) and counts: residual states then flag states."""
    size = n_contexts * N_STATES + n_flag_contexts
    return np.full(size, PROB_ONE // 2, dtype=np.int64), np.zeros(size, dtype=np.int64)


def new_encoder(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Encoder state and an output buffer (grown by ``encode_pass``'s caller)."""
    state = np.zeros(5, dtype=np.int64)
    state[_RANGE] = 0xFFFFFFFF
    state[_CSIZE] = 1
    return state, np.zeros(max(capacity, 4 * _SPARE), dtype=np.uint8)


# --------------------------------------------------------------------------- encoder


@numba.njit(cache=True, nogil=True, inline="always")
def load_encoder(st):
    """The encoder state as locals (low, range, cache, cache_size, position): kept in
    registers through a slice's loop instead of loaded from / stored to ``st`` per bit."""
    return st[_LOW], st[_RANGE], st[_CACHE], st[_CSIZE], st[_POS]


@numba.njit(cache=True, nogil=True, inline="always")
def store_encoder(st, low, rng, cache, csize, pos):
    """Write the locals of ``load_encoder`` back into ``st``."""
    st[_LOW] = low
    st[_RANGE] = rng
    st[_CACHE] = cache
    st[_CSIZE] = csize
    st[_POS] = pos


@numba.njit(cache=True, nogil=True, inline="always")
def _shift_low(low, cache, csize, pos, out):
    if low < 0xFF000000 or low > 0xFFFFFFFF:
        carry = low >> 32
        temp = cache
        while True:
            out[pos] = (temp + carry) & 0xFF
            pos += 1
            temp = 0xFF
            csize -= 1
            if csize == 0:
                break
        cache = (low >> 24) & 0xFF
    csize += 1
    low = (low & 0x00FFFFFF) << 8
    return low, cache, csize, pos


@numba.njit(cache=True, nogil=True, inline="always")
def _adapt(probs, counts, s, bit):
    n = counts[s]
    shift = _RATES[n]
    if n < N_RATES - 1:
        counts[s] = n + 1
    p = probs[s]
    if bit:
        p -= (p + (1 << shift) - 1) >> shift
        if p < PROB_MIN:
            p = PROB_MIN
    else:
        p += (PROB_ONE - p + (1 << shift) - 1) >> shift
        if p > PROB_MAX:
            p = PROB_MAX
    probs[s] = p


@numba.njit(cache=True, nogil=True, inline="always")
def _put(low, rng, cache, csize, pos, out, p0, bit):
    bound = (rng >> PROB_BITS) * p0
    if bit:
        low += bound
        rng -= bound
    else:
        rng = bound
    while rng < (1 << 24):
        rng <<= 8
        low, cache, csize, pos = _shift_low(low, cache, csize, pos, out)
    return low, rng, cache, csize, pos


@numba.njit(cache=True, nogil=True, inline="always")
def _put_adaptive(low, rng, cache, csize, pos, out, probs, counts, s, bit):
    state = _put(low, rng, cache, csize, pos, out, probs[s], bit)
    _adapt(probs, counts, s, bit)
    return state


@numba.njit(cache=True, nogil=True, inline="always")
def encode_one(low, rng, cache, csize, pos, out, probs, counts, n_ctx_states, ctx, flag_ctx, flag, q):
    """Code one pixel: its flag (when ``flag_ctx >= 0``) and, unless set, residual ``q``;
    takes and returns the state of ``load_encoder``."""
    if flag_ctx >= 0:
        low, rng, cache, csize, pos = _put_adaptive(low, rng, cache, csize, pos, out, probs, counts,
                                                    n_ctx_states + flag_ctx, flag)
        if flag:
            return low, rng, cache, csize, pos
    base = ctx * N_STATES
    if q == 0:
        return _put_adaptive(low, rng, cache, csize, pos, out, probs, counts, base + _S_ZERO, 1)
    low, rng, cache, csize, pos = _put_adaptive(low, rng, cache, csize, pos, out, probs, counts, base + _S_ZERO, 0)
    low, rng, cache, csize, pos = _put_adaptive(low, rng, cache, csize, pos, out, probs, counts, base + _S_SIGN,
                                                1 if q < 0 else 0)
    m = -q if q < 0 else q
    e = 0
    while (m >> (e + 1)) > 0:
        e += 1
    for k in range(e):
        low, rng, cache, csize, pos = _put_adaptive(low, rng, cache, csize, pos, out, probs, counts,
                                                    base + _S_EXP + k, 1)
    low, rng, cache, csize, pos = _put_adaptive(low, rng, cache, csize, pos, out, probs, counts, base + _S_EXP + e, 0)
    if e >= 1:
        b1 = (m >> (e - 1)) & 1
        low, rng, cache, csize, pos = _put_adaptive(low, rng, cache, csize, pos, out, probs, counts,
                                                    base + _S_MANT1 + e, b1)
        if e >= 2:
            b2 = (m >> (e - 2)) & 1
            low, rng, cache, csize, pos = _put_adaptive(low, rng, cache, csize, pos, out, probs, counts,
                                                        base + _S_MANT2 + 2 * e + b1, b2)
            for k in range(e - 3, -1, -1):
                low, rng, cache, csize, pos = _put(low, rng, cache, csize, pos, out, PROB_ONE // 2, (m >> k) & 1)
    return low, rng, cache, csize, pos


def room_left(st: np.ndarray, out: np.ndarray) -> bool:
    """Whether ``out`` has room for one more pixel."""
    return st[_POS] < out.size - _SPARE


@numba.njit(cache=True, nogil=True, inline="always")
def has_room(pos, out):
    """Whether ``out`` has room for one more pixel at position ``pos``."""
    return pos < out.size - _SPARE


@numba.njit(cache=True, nogil=True)
def encode_symbols(st, out, probs, counts, n_ctx_states, ctx, flag_ctx, flags, values, start):
    """Code pixels ``start..`` with ``encode_one``. Returns the index reached (the caller
    grows ``out`` and calls again when it is short of room)."""
    low, rng, cache, csize, pos = load_encoder(st)
    for i in range(start, ctx.size):
        if not has_room(pos, out):
            store_encoder(st, low, rng, cache, csize, pos)
            return i
        low, rng, cache, csize, pos = encode_one(low, rng, cache, csize, pos, out, probs, counts, n_ctx_states,
                                                 ctx[i], flag_ctx[i], flags[i], values[i])
    store_encoder(st, low, rng, cache, csize, pos)
    return ctx.size


def grow(out: np.ndarray) -> np.ndarray:
    """A bigger copy of an encoder's output buffer."""
    grown = np.zeros(out.size * 2 + 1024, dtype=np.uint8)
    grown[: out.size] = out
    return grown


@numba.njit(cache=True, nogil=True)
def finish(st, out):
    """Flush the coder; returns the number of bytes written."""
    low, rng, cache, csize, pos = load_encoder(st)
    for _ in range(5):
        low, cache, csize, pos = _shift_low(low, cache, csize, pos, out)
    store_encoder(st, low, rng, cache, csize, pos)
    return pos


def encode_all(st, out, probs, counts, n_ctx_states, ctx, flag_ctx, flags, values) -> np.ndarray:
    """``encode_symbols`` over whole arrays, growing the buffer as needed; returns the buffer."""
    start = 0
    while True:
        reached = encode_symbols(st, out, probs, counts, n_ctx_states, ctx, flag_ctx, flags, values, start)
        if reached == ctx.size:
            return out
        start = reached
        out = grow(out)


# --------------------------------------------------------------------------- decoder


def new_decoder(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Decoder state over ``data`` (reads past the end count as damage)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    st = np.zeros(4, dtype=np.int64)
    st[_DRANGE] = 0xFFFFFFFF
    _init_decoder(st, buf)
    return st, buf


@numba.njit(cache=True, nogil=True, inline="always")
def load_decoder(st):
    """The decoder state as locals (code, range, position, overrun), as ``load_encoder``."""
    return st[_CODE], st[_DRANGE], st[_DPOS], st[_OVER]


@numba.njit(cache=True, nogil=True, inline="always")
def store_decoder(st, code, rng, pos, over):
    """Write the locals of ``load_decoder`` back into ``st``."""
    st[_CODE] = code
    st[_DRANGE] = rng
    st[_DPOS] = pos
    st[_OVER] = over


@numba.njit(cache=True, nogil=True, inline="always")
def _next_byte(pos, over, buf):
    if pos < buf.size:
        return np.int64(buf[pos]), pos + 1, over
    return np.int64(0), pos + 1, over + 1


@numba.njit(cache=True, nogil=True)
def _init_decoder(st, buf):
    code, rng, pos, over = load_decoder(st)
    code = np.int64(0)
    for _ in range(5):
        byte, pos, over = _next_byte(pos, over, buf)
        code = ((code << 8) | byte) & 0xFFFFFFFF
    store_decoder(st, code, rng, pos, over)


@numba.njit(cache=True, nogil=True, inline="always")
def _get(code, rng, pos, over, buf, p0):
    bound = (rng >> PROB_BITS) * p0
    if code < bound:
        rng = bound
        bit = 0
    else:
        code -= bound
        rng -= bound
        bit = 1
    while rng < (1 << 24):
        rng <<= 8
        byte, pos, over = _next_byte(pos, over, buf)
        code = ((code << 8) | byte) & 0xFFFFFFFF
    return bit, code, rng, pos, over


@numba.njit(cache=True, nogil=True, inline="always")
def _get_adaptive(code, rng, pos, over, buf, probs, counts, s):
    bit, code, rng, pos, over = _get(code, rng, pos, over, buf, probs[s])
    _adapt(probs, counts, s, bit)
    return bit, code, rng, pos, over


@numba.njit(cache=True, nogil=True, inline="always")
def decode_one(code, rng, pos, over, buf, probs, counts, n_ctx_states, ctx, flag_ctx):
    """Inverse of ``encode_one``: (flag, q, ok, state of ``load_decoder``); ok is False on
    damage (an impossible exponent or reads far past the end)."""
    if flag_ctx >= 0:
        bit, code, rng, pos, over = _get_adaptive(code, rng, pos, over, buf, probs, counts, n_ctx_states + flag_ctx)
        if bit:
            return 1, np.int64(0), True, code, rng, pos, over
    base = ctx * N_STATES
    bit, code, rng, pos, over = _get_adaptive(code, rng, pos, over, buf, probs, counts, base + _S_ZERO)
    if bit:
        return 0, np.int64(0), over <= 8, code, rng, pos, over
    negative, code, rng, pos, over = _get_adaptive(code, rng, pos, over, buf, probs, counts, base + _S_SIGN)
    e = 0
    while True:
        bit, code, rng, pos, over = _get_adaptive(code, rng, pos, over, buf, probs, counts, base + _S_EXP + e)
        if not bit:
            break
        e += 1
        if e >= MAX_EXPONENT:
            return 0, np.int64(0), False, code, rng, pos, over
    m = np.int64(1) << e
    if e >= 1:
        b1, code, rng, pos, over = _get_adaptive(code, rng, pos, over, buf, probs, counts, base + _S_MANT1 + e)
        m |= np.int64(b1) << (e - 1)
        if e >= 2:
            b2, code, rng, pos, over = _get_adaptive(code, rng, pos, over, buf, probs, counts,
                                                     base + _S_MANT2 + 2 * e + b1)
            m |= np.int64(b2) << (e - 2)
            for k in range(e - 3, -1, -1):
                bit, code, rng, pos, over = _get(code, rng, pos, over, buf, PROB_ONE // 2)
                m |= np.int64(bit) << k
    return 0, (-m if negative else m), over <= 8, code, rng, pos, over


@numba.njit(cache=True, nogil=True)
def decode_symbols(st, buf, probs, counts, n_ctx_states, ctx, flag_ctx, flags, values):
    """Inverse of ``encode_symbols``; returns False on damage, leaving the rest undecoded."""
    code, rng, pos, over = load_decoder(st)
    for i in range(ctx.size):
        f, q, ok, code, rng, pos, over = decode_one(code, rng, pos, over, buf, probs, counts, n_ctx_states, ctx[i],
                                                    flag_ctx[i])
        if not ok:
            store_decoder(st, code, rng, pos, over)
            return False
        flags[i] = f
        values[i] = q
    store_decoder(st, code, rng, pos, over)
    return True


def overran(st: np.ndarray) -> bool:
    """Whether decoding read past the data's end (a truncated or damaged stream)."""
    return bool(st[_OVER] > 4)
