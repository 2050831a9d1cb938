"""Failures the decoder fuzzer found (benchmarks/fuzz_decoder.py), each as the minimal hostile file.

Every file here has valid CRCs: an attacker (or a buggy tool) can recompute them, so the
decoder must refuse the content itself with a MedroiError, never another exception. The
files are rebuilt from a fresh 4 x 4 image each run, so they follow format changes; the
committed corpus in tests/fuzz_corpus/ is decoded as it is.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import medroi.codec as codec
from medroi.codec import container
from medroi.codec.predictors import NetworkPredictor
from medroi.errors import CorruptFileError, LimitExceededError, MedroiError

CORPUS = Path(__file__).parent / "fuzz_corpus"


@pytest.fixture(scope="module")
def tiny() -> bytes:
    image = (np.arange(16).reshape(4, 4) * 9).astype(np.int16)
    return codec.compress(image, image > 60, 0, 2)


def _with_header(data: bytes, **fields) -> bytes:
    parsed = container.unpack(data)
    header = {**parsed.header, **fields}
    return container.pack(header, [parsed.chunk(k) for k in range(len(parsed.index))])


def _with_header_text(data: bytes, text: bytes) -> bytes:
    """The file with its JSON header replaced by ``text`` (CRCs and offsets recomputed)."""
    parsed = container.unpack(data)
    version = struct.unpack_from("<H", data, len(container.MAGIC))[0]
    chunks = [parsed.chunk(k) for k in range(len(parsed.index))]
    prefix = container.MAGIC + struct.pack("<HI", version, len(text)) + text
    prefix += struct.pack("<II", container.header_checksum(version, text), len(chunks))
    offset = len(prefix) + 16 * len(chunks) + 4
    index = b""
    for chunk in chunks:
        index += struct.pack("<QII", offset, len(chunk), zlib.crc32(chunk))
        offset += len(chunk)
    return prefix + index + struct.pack("<I", zlib.crc32(index)) + b"".join(chunks)


class _FakeModel:
    """Enough of a network for the decoder to reach the header's window (never run)."""

    name, sha256 = "fake", "f" * 64


@pytest.mark.parametrize(
    "fields",
    [
        {"nroi_max_error": None},  # was IndexError: AE-only NROI in a file without a network
        {"roi_max_error": None, "nroi_max_error": None},
        {"shape": ["4", "4"]},  # was TypeError: numeric strings passed the check, then reached numpy
        {"shape": [4.0, 4]},
        {"gop": "32"},  # was TypeError in the slice loop
        {"value_range": ["0", 135]},
        {"metadata": "abc"},  # was ValueError: dict("abc")
        {"metadata": [1, 2]},  # was TypeError
        {"predictor": [["kind", "classical"]]},  # was TypeError: dict() of pairs passed, then indexed
        {"roi_max_error": 2.0},  # refused before too: kept as a guard
        {"dtype": ["int16"]},
    ],
)
def test_wrongly_typed_header_fields_raise_corrupt_file(tiny, fields):
    with pytest.raises(CorruptFileError):
        codec.decompress(_with_header(tiny, **fields))


@pytest.mark.parametrize(
    "text",
    [
        b"[" * 100000 + b"]" * 100000,  # was RecursionError from json
        b'{"shape": [' + b"9" * 5000 + b', 4]}',  # was ValueError (int max str digits), not a JSONDecodeError
        b'{"shape": [1e999, 4], "dtype": "int16"}',  # was OverflowError: int(inf)
    ],
)
def test_hostile_header_text_raises_corrupt_file(tiny, text):
    with pytest.raises(CorruptFileError):
        codec.decompress(_with_header_text(tiny, text))


def test_infinite_network_window_raises_corrupt_file(tiny):
    """Was OverflowError: int(inf) while reading the network's intensity window."""
    hostile = _with_header(tiny, predictor={"kind": "network", "name": "fake", "sha256": "f" * 64,
                                            "window": [1e999, 2]})
    with pytest.raises(CorruptFileError):
        codec.decompress(hostile, predictor=NetworkPredictor(_FakeModel()))


def test_declared_size_is_capped_before_allocating(tiny, monkeypatch):
    """A few hundred bytes may declare a 40000 x 40000 image (constant slices cost nothing):
    refused by the default cap, with a message naming the way to raise it."""
    monkeypatch.delenv("MEDROI_MAX_OUTPUT_BYTES", raising=False)
    hostile = _with_header(tiny, shape=[40000, 40000])
    with pytest.raises(LimitExceededError, match="max-output-bytes"):
        codec.decompress(hostile)
    with pytest.raises(LimitExceededError):
        codec.decompress_slice(hostile, 0)


def test_cap_can_be_lowered_and_raised(tiny, monkeypatch):
    monkeypatch.delenv("MEDROI_MAX_OUTPUT_BYTES", raising=False)
    with pytest.raises(LimitExceededError):
        codec.decompress(tiny, max_output_bytes=1024)
    monkeypatch.setenv("MEDROI_MAX_OUTPUT_BYTES", "1K")
    with pytest.raises(LimitExceededError):
        codec.decompress(tiny)
    assert codec.decompress(tiny, max_output_bytes="1M").array.shape == (4, 4)  # the argument wins
    monkeypatch.setenv("MEDROI_MAX_OUTPUT_BYTES", "lots")
    with pytest.raises(MedroiError, match="MEDROI_MAX_OUTPUT_BYTES"):
        codec.decompress(tiny)


def test_cli_max_output_bytes_flag(tiny, tmp_path, capsys, monkeypatch):
    from medroi.cli import main

    monkeypatch.delenv("MEDROI_MAX_OUTPUT_BYTES", raising=False)

    path = tmp_path / "tiny.mroi"
    path.write_bytes(tiny)
    assert main(["decompress", str(path), "-o", str(tmp_path / "a.png"), "--max-output-bytes", "1K"]) == 1
    assert "--max-output-bytes" in capsys.readouterr().err
    assert main(["decompress", str(path), "-o", str(tmp_path / "b.png"), "--max-output-bytes", "64M"]) == 0
    assert "MEDROI_MAX_OUTPUT_BYTES" not in os.environ  # the flag does not leak into the process


def test_cli_max_output_bytes_reaches_tree_workers(tiny, tmp_path, capsys, monkeypatch):
    from medroi.cli import main

    monkeypatch.delenv("MEDROI_MAX_OUTPUT_BYTES", raising=False)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "tiny.png.mroi").write_bytes(tiny)
    code = main(["decompress", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--max-output-bytes", "1K",
                 "--workers", "1", "--json"])
    assert code == 1 and "MEDROI_MAX_OUTPUT_BYTES" not in os.environ
    assert "max-output-bytes" in (tmp_path / "out" / "manifest.json").read_text()  # the worker hit the 1K cap


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.mroi")), ids=lambda p: p.name)
def test_committed_corpus_decodes_or_raises_cleanly(path):
    """Every corpus file either decodes within its declared shape and range or raises a MedroiError."""
    data = path.read_bytes()
    try:
        decoded = codec.decompress(data, max_output_bytes=64 << 20)
    except MedroiError:
        return
    lo, hi = decoded.header["value_range"]
    assert decoded.array.shape == tuple(decoded.header["shape"]) and decoded.roi_mask.shape == decoded.array.shape
    assert decoded.array.min() >= lo and decoded.array.max() <= hi


def test_corpus_index_lists_every_file():
    listed = json.loads((CORPUS / "index.json").read_text())
    assert sorted(listed) == sorted(p.name for p in CORPUS.glob("*.mroi"))
