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


def new_models(n_contexts: int, n_flag_contexts: int) -> np.ndarray:
    """Fresh adaptive states, residual states then flag states: P(bit = 0) * 2**16 in the low
    16 bits, the number of updates so far (which sets the adaptation rate) above them."""
    return np.full(n_contexts * N_STATES + n_flag_contexts, PROB_ONE // 2, dtype=np.int64)


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
def _adapt(models, s, p, bit):
    """Move state ``s`` (probability ``p``) towards ``bit``: fast at first, then slower.
    Probability and count share one word: a second array cost ~3x in speed."""
    n = models[s] >> PROB_BITS
    shift = _RATES[n]
    if n < N_RATES - 1:
        n += 1
    if bit:
        p -= (p + (1 << shift) - 1) >> shift
        if p < PROB_MIN:
            p = PROB_MIN
    else:
        p += (PROB_ONE - p + (1 << shift) - 1) >> shift
        if p > PROB_MAX:
            p = PROB_MAX
    models[s] = p | (n << PROB_BITS)


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
def encode_bit(low, rng, cache, csize, pos, out, models, s, bit):
    """Code one adaptive decision with state ``s`` (a background pixel's flag, format 3)."""
    p0 = models[s] & (PROB_ONE - 1)
    low, rng, cache, csize, pos = _put(low, rng, cache, csize, pos, out, p0, bit)
    _adapt(models, s, p0, bit)
    return low, rng, cache, csize, pos


@numba.njit(cache=True, nogil=True, inline="always")
def encode_one(low, rng, cache, csize, pos, out, models, n_ctx_states, ctx, flag_ctx, flag, q):
    """Code one pixel: its flag (when ``flag_ctx >= 0``) and, unless set, residual ``q``;
    takes and returns the state of ``load_encoder``."""
    # the decisions in order through one coding site: numba code with a site per kind of
    # decision ran ~3x slower
    n_flag = 1 if flag_ctx >= 0 else 0
    m = -q if q < 0 else q
    e = 0
    while (m >> (e + 1)) > 0:
        e += 1
    if n_flag and flag:
        total = 1
    elif q == 0:
        total = n_flag + 1
    else:  # zero, sign, e + 1 exponent bits, up to 2 adaptive mantissa bits, raw bits
        total = n_flag + 3 + e + (e if e < 2 else 2) + (e - 2 if e >= 3 else 0)
    base = ctx * N_STATES
    b1 = (m >> (e - 1)) & 1 if e >= 1 else 0
    for t in range(total):
        u = t - n_flag
        adaptive = True
        if u < 0:
            s = n_ctx_states + flag_ctx
            bit = flag
        elif u == 0:
            s = base + _S_ZERO
            bit = 1 if q == 0 else 0
        elif u == 1:
            s = base + _S_SIGN
            bit = 1 if q < 0 else 0
        elif u <= 2 + e:
            s = base + _S_EXP + u - 2
            bit = 1 if u - 2 < e else 0
        elif u == 3 + e:
            s = base + _S_MANT1 + e
            bit = b1
        elif u == 4 + e:
            s = base + _S_MANT2 + 2 * e + b1
            bit = (m >> (e - 2)) & 1
        else:  # raw mantissa bits, high to low
            s = 0
            adaptive = False
            bit = (m >> (2 * e + 2 - u)) & 1
        p0 = (models[s] & (PROB_ONE - 1)) if adaptive else PROB_ONE // 2
        low, rng, cache, csize, pos = _put(low, rng, cache, csize, pos, out, p0, bit)
        if adaptive:
            _adapt(models, s, p0, bit)
    return low, rng, cache, csize, pos


def room_left(st: np.ndarray, out: np.ndarray) -> bool:
    """Whether ``out`` has room for one more pixel."""
    return st[_POS] < out.size - _SPARE


@numba.njit(cache=True, nogil=True, inline="always")
def has_room(pos, out):
    """Whether ``out`` has room for one more pixel at position ``pos``."""
    return pos < out.size - _SPARE


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
def decode_bit(code, rng, pos, over, buf, models, s):
    """Inverse of ``encode_bit``: (bit, state of ``load_decoder``)."""
    p0 = models[s] & (PROB_ONE - 1)
    bit, code, rng, pos, over = _get(code, rng, pos, over, buf, p0)
    _adapt(models, s, p0, bit)
    return bit, code, rng, pos, over


@numba.njit(cache=True, nogil=True, inline="always")
def decode_one(code, rng, pos, over, buf, models, n_ctx_states, ctx, flag_ctx):
    """Inverse of ``encode_one``: (flag, q, ok, state of ``load_decoder``); ok is False on
    damage (an impossible exponent or reads far past the end)."""
    # one decoding site, a phase per kind of decision (as encode_one, for speed):
    # 0 flag, 1 zero, 2 sign, 3 exponent, 4 and 5 adaptive mantissa bits, 6 raw bits
    base = ctx * N_STATES
    phase = 0 if flag_ctx >= 0 else 1
    negative = 0
    e = 0
    m = np.int64(0)
    b1 = 0
    k = 0
    while True:
        adaptive = True
        if phase == 0:
            s = n_ctx_states + flag_ctx
        elif phase == 1:
            s = base + _S_ZERO
        elif phase == 2:
            s = base + _S_SIGN
        elif phase == 3:
            s = base + _S_EXP + e
        elif phase == 4:
            s = base + _S_MANT1 + e
        elif phase == 5:
            s = base + _S_MANT2 + 2 * e + b1
        else:
            s = 0
            adaptive = False
        p0 = (models[s] & (PROB_ONE - 1)) if adaptive else PROB_ONE // 2
        bit, code, rng, pos, over = _get(code, rng, pos, over, buf, p0)
        if adaptive:
            _adapt(models, s, p0, bit)
        if phase == 0:
            if bit:
                return 1, np.int64(0), True, code, rng, pos, over
            phase = 1
        elif phase == 1:
            if bit:
                return 0, np.int64(0), over <= 8, code, rng, pos, over
            phase = 2
        elif phase == 2:
            negative = bit
            phase = 3
        elif phase == 3:
            if bit:
                e += 1
                if e >= MAX_EXPONENT:
                    return 0, np.int64(0), False, code, rng, pos, over
            else:
                m = np.int64(1) << e
                if e == 0:
                    break
                phase = 4
        elif phase == 4:
            b1 = bit
            m |= np.int64(bit) << (e - 1)
            if e == 1:
                break
            phase = 5
        elif phase == 5:
            m |= np.int64(bit) << (e - 2)
            if e == 2:
                break
            phase = 6
            k = e - 3
        else:
            m |= np.int64(bit) << k
            if k == 0:
                break
            k -= 1
    return 0, (-m if negative else m), over <= 8, code, rng, pos, over


def overran(st: np.ndarray) -> bool:
    """Whether decoding read past the data's end (a truncated or damaged stream)."""
    return bool(st[_OVER] > 4)
