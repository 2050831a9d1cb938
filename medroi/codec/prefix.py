"""Huffman (prefix) coding of the raster model's symbols, the paper's entropy coder.

A Huffman code spends at least one bit per symbol, so the background, 84 % of a BRATS
volume, is not coded pixel by pixel: where a pixel's four causal neighbours are all equal
(background or a flat area), one run length codes how many pixels of the row repeat that
value within the bound (JPEG-LS's run mode; background runs have their own table).
Elsewhere a "background" symbol shares the residual alphabet. Model 2 (header
``huffman_model``, ``raster.encode_slice_prefix``) codes a run's length relative to where
the row above stops repeating the value, whole rows that repeat it as one symbol, switches
pair symbols by recent outcomes, and codes ROI masks with the same coder.

Tables are backward-adaptive, as the range coder's models are: each context's code is
rebuilt from the symbol counts decoded so far (after 2**4, 2**5, ... coded symbols of a
slice, then every ``period``: 2**15, model 2: 2**10), so no table is sent and the decoder
rebuilds identical ones. Each symbol has a prior count of 1 (a coded symbol counts 1,
model 2: 16). Code lengths come from integer counts with ties broken by symbol index
(identical on every machine), limited to ``MAX_CODE_LENGTH`` bits.
"""

from __future__ import annotations

import numba
import numpy as np

MAX_CODE_LENGTH = 24
N_DIRECT = 15  # |q| <= 15 has its own symbol
#: symbols: 0 background; 1..31 zigzag(q) + 1 for |q| <= 15; then 2 per bit length e
#: (sign), followed by e - 1 raw mantissa bits
SYM_BACKGROUND = 0
_FIRST_CLASS = 2 * N_DIRECT + 2
_MIN_CLASS_BITS = 5  # |q| >= 16 has bit length >= 5
MAX_BITS = 40
N_SYMBOLS = _FIRST_CLASS + 2 * (MAX_BITS - _MIN_CLASS_BITS + 1)
N_RUN_SYMBOLS = 18  # run length r: class bitlength(r) (0..17) + raw bits
_SPARE = 256
COUNT_LIMIT = 1 << 16  # counts are halved beyond this (x the count per symbol): tables follow the data


# --------------------------------------------------------------------------- tables


@numba.njit(cache=True, nogil=True)
def code_lengths(counts, lengths):
    """Huffman code lengths of ``counts`` (each taken as count + 1, so every symbol has a
    code), limited to MAX_CODE_LENGTH by halving the counts until they fit."""
    n = counts.size
    weights = counts.astype(np.int64) + 1
    while True:
        order = np.argsort(weights * n + np.arange(n))  # by (weight, symbol): unique keys
        node_w = np.zeros(2 * n, np.int64)
        parent = np.zeros(2 * n, np.int64)
        for i in range(n):
            node_w[i] = weights[order[i]]
        leaf = 0
        inner = n
        next_inner = n
        for _ in range(n - 1):
            picked = np.zeros(2, np.int64)
            for t in range(2):
                if leaf < n and (inner >= next_inner or node_w[leaf] <= node_w[inner]):
                    picked[t] = leaf
                    leaf += 1
                else:
                    picked[t] = inner
                    inner += 1
            node_w[next_inner] = node_w[picked[0]] + node_w[picked[1]]
            parent[picked[0]] = next_inner
            parent[picked[1]] = next_inner
            next_inner += 1
        root = next_inner - 1
        depth = np.zeros(2 * n, np.int64)
        longest = 0
        for node in range(root - 1, -1, -1):
            depth[node] = depth[parent[node]] + 1
        for i in range(n):
            d = depth[i] if n > 1 else 1
            lengths[order[i]] = d
            if d > longest:
                longest = d
        if longest <= MAX_CODE_LENGTH:
            return
        weights = (weights + 1) // 2


@numba.njit(cache=True, nogil=True)
def canonical(lengths, codes, first, offset, sorted_symbols):
    """Canonical codes from lengths, and the decoder's tables (per length: first code,
    offset into ``sorted_symbols``, count in first[L + MAX + 1])."""
    n = lengths.size
    count = np.zeros(MAX_CODE_LENGTH + 1, np.int64)
    for s in range(n):
        count[lengths[s]] += 1
    code = 0
    pos = 0
    for length in range(1, MAX_CODE_LENGTH + 1):
        first[length] = code
        offset[length] = pos
        first[MAX_CODE_LENGTH + 1 + length] = count[length]
        for s in range(n):
            if lengths[s] == length:
                codes[s] = code
                sorted_symbols[pos] = s
                code += 1
                pos += 1
        code <<= 1


class Tables:
    """Counts and current codes of every context: residual contexts, a pair table per
    residual context (``raster.N_PAIR_SYMBOLS`` symbols), the flat-run and background-run
    tables, then model 2's predicted background-run, predicted flat-run and whole-row tables."""

    def __init__(self, n_contexts: int, n_pair_symbols: int) -> None:
        n = 2 * n_contexts + 5
        self.counts = np.zeros((n, N_SYMBOLS), np.int64)
        self.lengths = np.zeros((n, N_SYMBOLS), np.int64)
        self.codes = np.zeros((n, N_SYMBOLS), np.int64)
        self.first = np.zeros((n, 2 * MAX_CODE_LENGTH + 2), np.int64)
        self.offset = np.zeros((n, MAX_CODE_LENGTH + 1), np.int64)
        self.sorted = np.zeros((n, N_SYMBOLS), np.int64)
        self.alphabet = np.full(n, N_SYMBOLS, np.int64)
        self.alphabet[n_contexts : 2 * n_contexts] = n_pair_symbols
        self.alphabet[2 * n_contexts : 2 * n_contexts + 2] = N_RUN_SYMBOLS  # flat runs, background runs
        # then (Huffman model 2) a background / flat run's length minus the row above's, and how
        # many whole rows repeat the row above's value
        self.alphabet[-1] = N_RUN_SYMBOLS
        self.dirty = np.ones(n, np.bool_)
        self.pair_stats = np.zeros((n_contexts, 2), np.int64)  # model 2: pair candidates seen, misfits among them
        rebuild(self.counts, self.lengths, self.codes, self.first, self.offset, self.sorted, self.alphabet, self.dirty,
                COUNT_LIMIT)


@numba.njit(cache=True, nogil=True)
def rebuild(counts, lengths, codes, first, offset, sorted_symbols, alphabet, dirty, limit):
    """Rebuild the codes of contexts whose counts changed (halving those above ``limit``)."""
    for c in range(counts.shape[0]):
        if not dirty[c]:
            continue
        dirty[c] = False
        m = alphabet[c]
        total = 0
        for s in range(m):
            total += counts[c, s]
        if total > limit:
            for s in range(m):
                counts[c, s] = (counts[c, s] + 1) // 2
        code_lengths(counts[c, :m], lengths[c, :m])
        canonical(lengths[c, :m], codes[c, :m], first[c], offset[c], sorted_symbols[c, :m])


@numba.njit(cache=True, nogil=True, inline="always")
def is_rebuild_point(coded, period):
    """After 2**4, 2**5, ... coded symbols, then every ``period`` (a power of 2)."""
    if coded < 16:
        return False
    if coded & (coded - 1) == 0:
        return True
    return (coded & (period - 1)) == 0


# --------------------------------------------------------------------------- bits

# writer state: acc, n bits in acc, position; reader state: acc, n bits, position, overrun


def new_writer(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Bit-writer state and its buffer."""
    return np.zeros(3, np.int64), np.zeros(max(capacity, 4 * _SPARE), np.uint8)


@numba.njit(cache=True, nogil=True, inline="always")
def has_room(st, out):
    return st[2] < out.size - _SPARE


@numba.njit(cache=True, nogil=True, inline="always")
def put_bits(st, out, value, n):
    """Append the low ``n`` bits of ``value`` (n <= 40), most significant first."""
    while n > 0:
        take = 24 if n > 24 else n
        n -= take
        st[0] = (st[0] << take) | ((value >> n) & ((1 << take) - 1))
        st[1] += take
        while st[1] >= 8:
            st[1] -= 8
            out[st[2]] = (st[0] >> st[1]) & 0xFF
            st[2] += 1
        st[0] &= (1 << st[1]) - 1


@numba.njit(cache=True, nogil=True)
def flush(st, out):
    """Pad the last byte with zeros; returns the byte count."""
    if st[1] > 0:
        put_bits(st, out, 0, 8 - st[1])
    return st[2]


def new_reader(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(4, np.int64), np.frombuffer(data, dtype=np.uint8)


@numba.njit(cache=True, nogil=True, inline="always")
def get_bit(st, buf):
    if st[1] == 0:
        if st[2] < buf.size:
            st[0] = buf[st[2]]
        else:
            st[0] = 0
            st[3] += 1
        st[2] += 1
        st[1] = 8
    st[1] -= 1
    return (st[0] >> st[1]) & 1


@numba.njit(cache=True, nogil=True, inline="always")
def get_bits(st, buf, n):
    v = np.int64(0)
    for _ in range(n):
        v = (v << 1) | get_bit(st, buf)
    return v


@numba.njit(cache=True, nogil=True, inline="always")
def put_symbol(st, out, codes, lengths, c, s):
    put_bits(st, out, codes[c, s], lengths[c, s])


@numba.njit(cache=True, nogil=True, inline="always")
def get_symbol(st, buf, first, offset, sorted_symbols, c):
    """A symbol of context ``c``, or -1 on damage."""
    code = np.int64(0)
    for length in range(1, MAX_CODE_LENGTH + 1):
        code = (code << 1) | get_bit(st, buf)
        k = code - first[c, length]
        if k >= 0 and k < first[c, MAX_CODE_LENGTH + 1 + length]:
            return sorted_symbols[c, offset[c, length] + k]
    return -1


# --------------------------------------------------------------------------- symbols


@numba.njit(cache=True, nogil=True, inline="always")
def residual_symbol(q):
    """(symbol, raw bits, n raw bits) of a residual."""
    m = -q if q < 0 else q
    if m <= N_DIRECT:
        z = 2 * m - 1 if q > 0 else 2 * m
        return 1 + z, np.int64(0), 0
    e = 0
    while (m >> e) > 0:
        e += 1
    return _FIRST_CLASS + 2 * (e - _MIN_CLASS_BITS) + (1 if q < 0 else 0), m - (np.int64(1) << (e - 1)), e - 1


@numba.njit(cache=True, nogil=True, inline="always")
def residual_bits(s):
    """Number of raw bits after symbol ``s`` (>= _FIRST_CLASS)."""
    return (s - _FIRST_CLASS) // 2 + _MIN_CLASS_BITS - 1


@numba.njit(cache=True, nogil=True, inline="always")
def residual_value(s, raw):
    if s <= 2 * N_DIRECT + 1:
        z = s - 1
        return (z + 1) // 2 if z % 2 == 1 else -(z // 2)
    e = (s - _FIRST_CLASS) // 2 + _MIN_CLASS_BITS
    m = (np.int64(1) << (e - 1)) + raw
    return -m if (s - _FIRST_CLASS) % 2 == 1 else m
