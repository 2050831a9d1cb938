"""The classical baselines in benchmarks/classical.py round-trip and honour their bounds.

Small synthetic arrays made on the fly; no timing assertions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("imagecodecs")
pytest.importorskip("jpeg_ls")
pytest.importorskip("constriction")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import classical as C  # noqa: E402


def _image(dtype, rows=48, cols=40, seed=0, lo=None, hi=None):
    """A smooth blob + noise in [lo, hi] at ``dtype``."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    yy, xx = np.mgrid[0:rows, 0:cols]
    smooth = np.exp(-(((yy - rows / 2) / (rows / 3)) ** 2 + ((xx - cols / 2) / (cols / 3)) ** 2))
    vals = lo + (hi - lo) * (0.8 * smooth + 0.2 * rng.random((rows, cols)))
    return np.clip(np.rint(vals), lo, hi).astype(dtype)


def _roi(shape, seed=1):
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    m = ((yy - rows * 0.4) ** 2 + (xx - cols * 0.55) ** 2) < (min(rows, cols) / 4) ** 2
    m[2:5, 3:6] = True  # a second component
    return m


CASES = [
    ("uint8", None, None),
    ("uint16", 0, 1023),  # 10-bit MRI-like
    ("int16", -300, 900),  # negative values: offset path
    ("int16", 0, 589),  # BRATS-like 10-bit in int16
    ("int8", None, None),
    ("uint16", 0, 65535),  # full 16 bits
    ("int32", -1000, 3000),
]


def _bits(x):
    return max(1, int(int(x.max()) - min(int(x.min()), 0)).bit_length())


@pytest.mark.parametrize("dtype,lo,hi", CASES)
def test_lossless_round_trips(dtype, lo, hi):
    x = _image(np.dtype(dtype), lo=lo, hi=hi)
    for enc, dec in [
        (lambda a: C.jpegls_encode(a, 0), C.jpegls_decode),
        (lambda a: C.jpegls_encode_declared(a, 0), C.jpegls_decode),
        (lambda a: C.jpegxl_encode(a, None), C.jpegxl_decode),
        (lambda a: C.jpeg2k_encode(a, None), C.jpeg2k_decode),
    ]:
        y = dec(enc(x))
        assert y.dtype == x.dtype and y.shape == x.shape
        np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("dtype,lo,hi", CASES)
@pytest.mark.parametrize("near", [1, 2, 4, 8])
def test_jpegls_near_within_k(dtype, lo, hi, near):
    x = _image(np.dtype(dtype), lo=lo, hi=hi, seed=near)
    y = C.jpegls_decode(C.jpegls_encode(x, near))
    assert y.dtype == x.dtype
    assert np.abs(y.astype(np.int64) - x).max() <= near


def test_true_bit_depth_is_declared():
    import jpeg_ls

    x = _image(np.dtype("int16"), lo=0, hi=589)  # needs 10 bits
    data = C.jpegls_encode(x, 0)
    _, _, _, pos = C._read_header(data)
    _, meta = jpeg_ls.decode_buffer(data[pos:])
    assert meta["bits_per_sample"] == 10
    p = C.prepare(np.array([[-5, 3], [0, 7]], np.int16))
    assert p.offset == -5 and p.bits == 4 and int(p.array.min()) == 0


@pytest.mark.parametrize(
    "x",
    [
        np.zeros((16, 16), np.int16),
        np.full((16, 16), 700, np.int16),
        np.full((9, 5), -42, np.int16),
        np.zeros((0, 7), np.uint8),
        np.full((3, 4), 255, np.uint8),
    ],
    ids=["zeros", "constant", "negative-constant", "empty", "constant-uint8"],
)
def test_empty_and_constant_slices(x):
    codecs = [C.jpegls_codec(0), C.jpegls_codec(4), C.jpegxl_codec(None), C.jpeg2k_codec(None)]
    codecs += [C.jpegls_hybrid_codec(0), C.jpegls_hybrid_codec(4)]
    roi = np.zeros(x.shape, bool)
    if x.size:
        roi[: x.shape[0] // 2, : x.shape[1] // 2] = True
    for c in codecs:
        y = c.decode(c.encode(x, roi))
        assert y.shape == x.shape and y.dtype == x.dtype, c.name
        assert np.abs(y.astype(np.int64) - x).max(initial=0) <= c.nroi_bound, c.name


def test_lossy_codecs_decode_to_the_right_shape_and_dtype():
    x = _image(np.dtype("int16"), lo=-100, hi=800)
    for c in [C.jpegxl_codec(1.0), C.jpeg2k_codec(50)]:
        y = c.decode(c.encode(x, None))
        assert y.shape == x.shape and y.dtype == x.dtype
        # no per-pixel guarantee, but a sane reconstruction
        assert np.abs(y.astype(np.int64) - x).mean() < 0.05 * (int(x.max()) - int(x.min()))


@pytest.mark.parametrize("dtype,lo,hi", CASES[:4])
@pytest.mark.parametrize("k", [0, 1, 4])
@pytest.mark.parametrize("variants", ["a", "b", "ab"])
def test_hybrid_roi_exact_nroi_within_k(dtype, lo, hi, k, variants):
    x = _image(np.dtype(dtype), lo=lo, hi=hi, seed=k + 3)
    roi = _roi(x.shape)
    data = C.hybrid_encode(x, roi, lambda a: C.jpegls_encode(a, k), C.jpegls_decode, C.jpegls_encode, variants)
    assert C.hybrid_layout(data) in variants
    y = C.hybrid_decode(data, C.jpegls_decode, C.jpegls_decode)
    assert y.dtype == x.dtype and y.shape == x.shape
    err = np.abs(y.astype(np.int64) - x)
    assert err[roi].max() == 0
    assert err[~roi].max() <= k


def test_hybrid_codec_picks_the_smaller_layout():
    x = _image(np.dtype("uint16"), lo=0, hi=1023)
    roi = _roi(x.shape)
    c = C.jpegls_hybrid_codec(4)
    enc = lambda v: C.hybrid_encode(x, roi, lambda a: C.jpegls_encode(a, 4), C.jpegls_decode, C.jpegls_encode, v)  # noqa: E731
    assert len(c.encode(x, roi)) == min(len(enc("a")), len(enc("b")))


def test_jpegxl_hybrid_keeps_roi_exact():
    x = _image(np.dtype("uint8"), rows=64, cols=64)
    roi = _roi(x.shape)
    c = C.jpegxl_hybrid_codec(1.0)
    for v in ["a", "b"]:
        data = C.hybrid_encode(
            x, roi, lambda a: C.jpegxl_encode(a, 1.0), C.jpegxl_decode, lambda a: C.jpegxl_encode(a, None), v
        )
        y = c.decode(data)
        np.testing.assert_array_equal(y[roi], x[roi])


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (33, 65)])
def test_mask_and_symbol_coders_round_trip(shape):
    rng = np.random.default_rng(5)
    for m in [np.zeros(shape, bool), np.ones(shape, bool), rng.random(shape) < 0.3]:
        np.testing.assert_array_equal(C.decode_mask(C.encode_mask(m), shape), m)
    for v in [np.zeros(0, int), np.full(10, -3), rng.integers(-4, 5, 500), rng.integers(-200, 90, 64)]:
        np.testing.assert_array_equal(C.decode_symbols(C.encode_symbols(v), v.size), v)


def test_fill_rows_keeps_known_pixels():
    x = _image(np.dtype("int16"), lo=-50, hi=400)
    known = ~_roi(x.shape)
    known[10] = False  # a row with nothing known
    f = C.fill_rows(x, known)
    np.testing.assert_array_equal(f[known], x[known])
    assert f.dtype == x.dtype
    assert f.min() >= x.min() and f.max() <= x.max()
