from __future__ import annotations

import pytest

from medroi.errors import OutputExistsError
from medroi.fsutil import atomic_output, atomic_write_bytes


def test_atomic_write_refuses_overwrite_without_force(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"one")
    with pytest.raises(OutputExistsError):
        atomic_write_bytes(target, b"two")
    atomic_write_bytes(target, b"two", force=True)
    assert target.read_bytes() == b"two"


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "b.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed half-way")
    assert list(tmp_path.iterdir()) == []


def test_outputs_get_the_usual_permissions(tmp_path):
    import os
    import stat

    target = atomic_write_bytes(tmp_path / "c.bin", b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_temporary_bytes_never_carry_the_final_extension(tmp_path):
    target = tmp_path / "scan.mroi"
    with pytest.raises(RuntimeError):
        with atomic_output(target, keep_suffix=False) as tmp:
            assert not tmp.name.endswith(".mroi") and tmp.name.startswith(".")
            raise RuntimeError("killed")
