"""The 8 x 8 block grid that JPEG leaves in decoded pixels, and a context class per pixel.

Why: a radiograph that went through JPEG before it reached the archive keeps the edges of
JPEG's 8 x 8 blocks: across a block edge, neighbours differ more than inside a block. A
pixel next to such an edge is coded in its own contexts (ideal code lengths on chest
X-rays: 0.7-3 % smaller where the grid shows, ``benchmarks/results/codec_v2.md``).

The grid is found from the pixels (the mean absolute step between columns, per column
phase mod 8; one phase standing out is an edge) and stored in the header as
``block_grid: [row phase, column phase]`` (None where that axis shows no grid).
"""

from __future__ import annotations

import numpy as np

BLOCK = 8
N_CLASSES = 4  # inside a block / next to a row edge / next to a column edge / both
#: the largest phase's mean step must exceed every other phase's by this factor
_STANDS_OUT = 1.15
_MIN_SIDE = 8 * BLOCK  # fewer blocks than this along an axis: no reliable estimate


def _phase(steps: np.ndarray) -> int | None:
    """The phase p (edge between p and p + 1 mod 8) whose mean step stands out, else None."""
    n = steps.size - steps.size % BLOCK
    if n < _MIN_SIDE:
        return None
    means = steps[:n].reshape(-1, BLOCK).mean(axis=0)
    order = np.argsort(means)
    if means[order[-2]] <= 0 or means[order[-1]] < _STANDS_OUT * means[order[-2]]:
        return None
    return int(order[-1])


def detect(image: np.ndarray) -> list[int | None] | None:
    """``[row phase, column phase]`` of a 2D image's block grid, or None when neither shows."""
    pixels = np.asarray(image, dtype=np.int64)
    rows = _phase(np.abs(np.diff(pixels, axis=0)).mean(axis=1))
    columns = _phase(np.abs(np.diff(pixels, axis=1)).mean(axis=0))
    return None if rows is None and columns is None else [rows, columns]


def classes(shape: tuple[int, int], grid: list[int | None] | None) -> np.ndarray | None:
    """Per pixel (flattened, uint8): 1 next to a row edge + 2 next to a column edge; None without a grid."""
    if grid is None:
        return None
    height, width = shape

    def near_edge(n: int, phase: int | None) -> np.ndarray:
        if phase is None:
            return np.zeros(n, dtype=np.uint8)
        position = np.arange(n) % BLOCK
        return ((position == phase) | (position == (phase + 1) % BLOCK)).astype(np.uint8)

    return (near_edge(height, grid[0])[:, None] + 2 * near_edge(width, grid[1])[None, :]).ravel()


def positions(shape: tuple[int, int], grid: list[int | None] | None) -> np.ndarray | None:
    """Per pixel (flattened, uint8): its position in its 8 x 8 block, 8 * row + column (0 along an
    axis without a grid); None without a grid. A block starts after the edge at ``phase``."""
    if grid is None:
        return None
    height, width = shape

    def along(n: int, phase: int | None) -> np.ndarray:
        return np.zeros(n, dtype=np.uint8) if phase is None else ((np.arange(n) - phase - 1) % BLOCK).astype(np.uint8)

    return (BLOCK * along(height, grid[0])[:, None] + along(width, grid[1])[None, :]).ravel().astype(np.uint8)


def is_valid(grid) -> bool:
    """Whether a header's ``block_grid`` is two phases (0-7 or None), not both None."""
    return (isinstance(grid, list) and len(grid) == 2 and grid != [None, None]
            and all(p is None or (isinstance(p, int) and not isinstance(p, bool) and 0 <= p < BLOCK) for p in grid))
