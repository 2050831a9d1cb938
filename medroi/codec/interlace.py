"""The order in which a slice's pixels are coded: a coarse-to-fine interlace.

Pixel (0, 0) comes first; then, for steps s = 2**L, ..., 2 (h = s / 2), two passes:

- centres   (i*s + h, j*s + h), predicted from the 4 diagonal grid points around them;
- edges     (i*s, j*s + h) and (i*s + h, j*s), predicted from their 4 axis neighbours.

Every pixel of a pass depends only on earlier passes, so a whole pass is predicted,
quantized and entropy coded as numpy arrays: no Python loop over pixels, and the
decoder mirrors the encoder exactly. Neighbours outside the image fall back to their
partner on the other side (or to the other pair).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pass:
    """One pass: flat indices of its pixels and of their two neighbour pairs."""

    positions: np.ndarray  # (n,) flat indices into the slice
    pair1: tuple[np.ndarray, np.ndarray]  # (n,), (n,) flat indices
    pair2: tuple[np.ndarray, np.ndarray]


def _flat(rows: np.ndarray, cols: np.ndarray, width: int) -> np.ndarray:
    return (rows * width + cols).astype(np.int64)


def _pair(rows_a, cols_a, rows_b, cols_b, height, width):
    """Flat indices of a neighbour pair, each replaced by its partner when outside."""
    inside_a = (rows_a >= 0) & (rows_a < height) & (cols_a >= 0) & (cols_a < width)
    inside_b = (rows_b >= 0) & (rows_b < height) & (cols_b >= 0) & (cols_b < width)
    rows_a2 = np.where(inside_a, rows_a, rows_b)
    cols_a2 = np.where(inside_a, cols_a, cols_b)
    rows_b2 = np.where(inside_b, rows_b, rows_a)
    cols_b2 = np.where(inside_b, cols_b, cols_a)
    valid = inside_a | inside_b
    return rows_a2, cols_a2, rows_b2, cols_b2, valid


def _make_pass(rows, cols, offsets1, offsets2, height, width) -> Pass:
    (dra, dca), (drb, dcb) = offsets1
    r1a, c1a, r1b, c1b, valid1 = _pair(rows + dra, cols + dca, rows + drb, cols + dcb, height, width)
    (dra, dca), (drb, dcb) = offsets2
    r2a, c2a, r2b, c2b, valid2 = _pair(rows + dra, cols + dca, rows + drb, cols + dcb, height, width)
    # A pair with no member inside borrows the other pair (at least one always exists).
    r1a, c1a, r1b, c1b = (np.where(valid1, v, w) for v, w in ((r1a, r2a), (c1a, c2a), (r1b, r2b), (c1b, c2b)))
    r2a, c2a, r2b, c2b = (np.where(valid2, v, w) for v, w in ((r2a, r1a), (c2a, c1a), (r2b, r1b), (c2b, c1b)))
    return Pass(
        positions=_flat(rows, cols, width),
        pair1=(_flat(r1a, c1a, width), _flat(r1b, c1b, width)),
        pair2=(_flat(r2a, c2a, width), _flat(r2b, c2b, width)),
    )


@functools.lru_cache(maxsize=2)  # a few slice shapes per process: big slices cost ~40 B per pixel each
def interlace_passes(height: int, width: int) -> tuple[Pass, ...]:
    """All passes after the first pixel, coarse to fine, for a ``height`` x ``width`` slice."""
    step = 1
    while step < max(height, width):
        step *= 2
    passes: list[Pass] = []
    while step >= 2:
        half = step // 2
        rows, cols = np.meshgrid(np.arange(half, height, step), np.arange(half, width, step), indexing="ij")
        rows, cols = rows.ravel(), cols.ravel()
        if rows.size:
            passes.append(
                _make_pass(rows, cols, ((-half, -half), (half, half)), ((-half, half), (half, -half)), height, width)
            )
        # edge midpoints: horizontal ones (on grid rows) then vertical ones (on grid cols)
        rh, ch = np.meshgrid(np.arange(0, height, step), np.arange(half, width, step), indexing="ij")
        rv, cv = np.meshgrid(np.arange(half, height, step), np.arange(0, width, step), indexing="ij")
        rows = np.concatenate([rh.ravel(), rv.ravel()])
        cols = np.concatenate([ch.ravel(), cv.ravel()])
        if rows.size:
            # pair1 along the grid line (known grid points), pair2 across it (centres)
            horizontal = np.concatenate([np.ones(rh.size, bool), np.zeros(rv.size, bool)])
            p_h = _make_pass(rows, cols, ((0, -half), (0, half)), ((-half, 0), (half, 0)), height, width)
            p_v = _make_pass(rows, cols, ((-half, 0), (half, 0)), ((0, -half), (0, half)), height, width)
            passes.append(
                Pass(
                    positions=p_h.positions,
                    pair1=tuple(np.where(horizontal, a, b) for a, b in zip(p_h.pair1, p_v.pair1)),
                    pair2=tuple(np.where(horizontal, a, b) for a, b in zip(p_h.pair2, p_v.pair2)),
                )
            )
        step = half
    return tuple(passes)
