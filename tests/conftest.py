"""Shared fixtures: where the real data lives, and skips with a clear reason when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_ROOT = Path(os.environ.get("MEDROI_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def require_data(*parts: str) -> Path:
    """Return DATA_ROOT/parts, or skip the test saying what is missing and how to point at it."""
    path = DATA_ROOT.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set MEDROI_DATA to the shared/data folder)")
    return path


@pytest.fixture
def data_root() -> Path:
    return require_data()


@pytest.fixture
def no_mixing(monkeypatch):
    """The encoder without its context-mixing candidates (formats 5, 6: 2D images and colour
    planes), for tests of what it chooses among the others (``medroi.codec.MIX_CANDIDATES``,
    ``PLANE_CANDIDATES``)."""
    import medroi.codec

    monkeypatch.setattr(medroi.codec, "MIX_CANDIDATES", ())
    monkeypatch.setattr(medroi.codec, "PLANE_CANDIDATES", ())
