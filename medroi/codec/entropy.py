"""Entropy coding behind one small interface: groups of int32 symbols, each group with its
own probability table, in and out of bytes.

Every table the coder sees is built from integers alone (see ``geometric_table``), so
encoder and decoder build bit-identical models on any machine. Two back-ends:

- ``ans``: constriction's ANS stack coder (default; whole groups per call, fast);
- ``huffman``: constriction's Huffman trees (the paper's entropy coder; one call per symbol,
  slow, kept for fidelity to the paper).
"""

from __future__ import annotations

import functools

import constriction
import numpy as np

from medroi.errors import CorruptFileError

_stream = constriction.stream
_symbol = constriction.symbol

#: Two-sided geometric tables: theta_k = THETA_NUMERATORS[k] / 2**16, from sharp to flat.
#: Literal integers (sharp laws for flat regions, then 1 - 0.6 * 0.82**k, k = 0..39), so
#: no machine's libm is involved.
THETA_NUMERATORS: tuple[int, ...] = (
    8, 32, 128, 512, 1448, 2621, 5243, 9830, 16384, 21000,
    26214, 33292, 39096, 43855, 47757, 50957, 53581, 55733, 57498, 58944,
    60131, 61104, 61901, 62556, 63092, 63532, 63892, 64188, 64431, 64630,
    64793, 64926, 65036, 65126, 65200, 65260, 65310, 65350, 65384, 65411,
    65433, 65452, 65467, 65479, 65489, 65498, 65504, 65510, 65515, 65518,
)
#: Largest |symbol| a table codes directly; bigger ones are escaped.
MAX_TABLE_HALF_WIDTH = 1024
_FREQ_ONE = 1 << 24
_ESCAPE_FREQ = 1 << 8


@functools.lru_cache(maxsize=None)
def geometric_table(k: int) -> np.ndarray:
    """Integer frequencies of a two-sided geometric law over [-T, T] plus an escape symbol.

    Index ``i`` codes value ``i - T``; the last index is the escape. Built with integer
    shifts only, so it is the same on every machine.
    """
    numerator = THETA_NUMERATORS[k]
    half = [_FREQ_ONE]
    while len(half) <= MAX_TABLE_HALF_WIDTH:
        nxt = (half[-1] * numerator) >> 16
        if nxt < 1:
            break
        half.append(nxt)
    half_arr = np.array(half, dtype=np.int64)
    freqs = np.concatenate([half_arr[:0:-1], half_arr, [_ESCAPE_FREQ]])
    return freqs.astype(np.float64)


def table_half_width(k: int) -> int:
    """T of table ``k``: values in [-T, T] are coded directly."""
    return (len(geometric_table(k)) - 2) // 2


@functools.lru_cache(maxsize=None)
def _table_costs() -> np.ndarray:
    """Bits of |value| = 0..MAX under each table (encoder side only: picks the best table)."""
    costs = []
    for k in range(len(THETA_NUMERATORS)):
        freqs = geometric_table(k)
        total = freqs.sum()
        half_width = table_half_width(k)
        bits_direct = -np.log2(freqs[half_width:-1] / total)  # value 0..T
        escape_bits = -np.log2(freqs[-1] / total) + 18.0
        cost = np.full(MAX_TABLE_HALF_WIDTH + 2, escape_bits)
        cost[: half_width + 1] = bits_direct
        costs.append(cost)
    return np.stack(costs)


def _best_table_cost(symbols: np.ndarray) -> tuple[int, float]:
    magnitudes = np.minimum(np.abs(symbols), MAX_TABLE_HALF_WIDTH + 1)
    histogram = np.bincount(magnitudes, minlength=MAX_TABLE_HALF_WIDTH + 2)
    nonzero = np.nonzero(histogram)[0]
    totals = _table_costs()[:, nonzero] @ histogram[nonzero].astype(np.float64)
    best = int(np.argmin(totals))
    return best, float(totals[best])


def best_table(symbols: np.ndarray) -> int:
    """Index of the geometric table that codes ``symbols`` in the fewest bits."""
    return _best_table_cost(symbols)[0]


MAX_SHIFT = 15


def best_coding(values: np.ndarray) -> tuple[int, int]:
    """(table, shift) coding ``values`` in the fewest bits: ``values >> shift`` goes through
    the table and the low ``shift`` bits are sent as they are (wide residuals stay cheap)."""
    values = np.asarray(values, dtype=np.int64)
    spread = int(np.abs(values).mean()) if values.size else 0
    first = max(0, spread.bit_length() - 6)
    # a raw low bit only pays off for wide residuals: narrow ones try shift 0 alone
    last = first if spread < 16 else min(MAX_SHIFT, first + 1)
    best = (0, 0, float("inf"))
    for shift in range(first, last + 1):
        table, bits = _best_table_cost(values >> shift)
        bits += shift * values.size
        if bits < best[2]:
            best = (table, shift, bits)
    return best[0], best[1]


#: Binary laws for mask bits: P(1) = BINARY_P1[j] / 4096.
BINARY_P1: tuple[int, ...] = tuple(min(max(j * 128, 1), 4095) for j in range(33))


def _table(kind: str, arg: int) -> np.ndarray:
    if kind == "geometric":
        return geometric_table(arg)
    if kind == "binary":
        return np.array([4096 - BINARY_P1[arg], BINARY_P1[arg]], dtype=np.float64)
    return np.ones(arg, dtype=np.float64)


class _Models:
    """Cached constriction models (they are immutable and cheap to share)."""

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def categorical(key: tuple) -> object:
        kind, arg = key
        if kind == "uniform":
            return _stream.model.Uniform(arg)
        return _stream.model.Categorical(_table(kind, arg), perfect=False)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def huffman(key: tuple) -> tuple[object, object]:
        probs = _table(*key)
        probs = probs / probs.sum()
        return _symbol.huffman.EncoderHuffmanTree(probs), _symbol.huffman.DecoderHuffmanTree(probs)


def geometric(k: int) -> tuple:
    """Model key of geometric table ``k`` (symbols are table indices)."""
    return ("geometric", int(k))


def binary(j: int) -> tuple:
    """Model key of binary law ``j`` (P(1) = BINARY_P1[j] / 4096)."""
    return ("binary", int(j))


def uniform(size: int) -> tuple:
    """Model key of a uniform law over 0..size-1."""
    return ("uniform", int(size))


class Encoder:
    """Collects symbol groups in decode order; ``finish`` returns the payload bytes."""

    def __init__(self, entropy: str = "ans") -> None:
        if entropy not in ("ans", "huffman"):
            raise ValueError(f"unknown entropy coder {entropy!r}: use 'ans' or 'huffman'")
        self.entropy = entropy
        self._groups: list[tuple[np.ndarray, tuple]] = []

    def add(self, symbols: np.ndarray, model: tuple) -> None:
        """Queue ``symbols`` (non-negative ints) to be coded with ``model``."""
        symbols = np.ascontiguousarray(symbols, dtype=np.int32).ravel()
        if symbols.size:
            self._groups.append((symbols, model))

    def finish(self) -> bytes:
        if self.entropy == "ans":
            coder = _stream.stack.AnsCoder()
            for symbols, model in reversed(self._groups):  # a stack: last in, first out
                coder.encode_reverse(symbols, _Models.categorical(model))
            words = coder.get_compressed()
            return np.asarray(words, dtype="<u4").tobytes()
        queue = _symbol.QueueEncoder()
        for symbols, model in self._groups:
            tree = _Models.huffman(model)[0]
            for value in symbols.tolist():
                queue.encode_symbol(value, tree)
        words, _ = queue.get_compressed()
        return np.asarray(words, dtype="<u4").tobytes()


class Decoder:
    """Reads symbol groups back, in the order they were added to the Encoder."""

    def __init__(self, payload: bytes, entropy: str = "ans") -> None:
        if len(payload) % 4:
            raise CorruptFileError("entropy-coded payload length is not a multiple of 4 bytes")
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        self.entropy = entropy
        self.payload_bytes = len(payload)  # bounds what a hostile length field may ask to decode
        if entropy == "ans":
            if words.size and words[-1] == 0:
                raise CorruptFileError("entropy-coded payload is malformed (ANS head word is zero)")
            self._coder = _stream.stack.AnsCoder(words)
        elif entropy == "huffman":
            self._coder = _symbol.QueueDecoder(words)
        else:
            raise CorruptFileError(f"unknown entropy coder {entropy!r} in file")

    def read(self, count: int, model: tuple) -> np.ndarray:
        """Decode ``count`` symbols with ``model``."""
        if count <= 0:
            return np.zeros(0, dtype=np.int32)
        try:
            if self.entropy == "ans":
                return np.asarray(self._coder.decode(_Models.categorical(model), int(count)), dtype=np.int32)
            tree = _Models.huffman(model)[1]
            return np.fromiter((self._coder.decode_symbol(tree) for _ in range(count)), np.int32, count)
        except Exception as error:  # constriction raises on exhausted or inconsistent data
            raise CorruptFileError(f"entropy-coded data is damaged ({error})") from error

    def check_exhausted(self) -> None:
        """ANS payloads must be consumed exactly; leftovers mean damage."""
        if self.entropy == "ans" and not self._coder.is_empty():
            raise CorruptFileError("entropy-coded data has trailing content (damaged file)")
