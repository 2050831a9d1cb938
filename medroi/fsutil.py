"""Atomic, no-clobber file writes: a temporary file in the target folder, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from medroi.errors import MedroiError, OutputExistsError, OutputNotWritableError


def check_output(path: str | os.PathLike, force: bool = False) -> Path:
    """Refuse an existing output unless ``force``; return the path as a Path."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force (force=True) to overwrite it")
    return path


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, force: bool = False, directory: bool = False, keep_suffix: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    ``keep_suffix`` ends the temporary name with the target's extensions, for writers that
    pick the format from it (nibabel's .nii.gz); without it the name ends in ``.tmp``, so a
    glob for the final extension (``*.mroi``) never sees a file still being written.

    On any error the temporary file (or folder) is removed, so a partial output never
    appears under its final name, even if the process is killed (the temp name is hidden).
    """
    path = check_output(path, force)
    ensure_folder(path.parent, path)
    prefix = f".{path.name}."
    try:
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
        else:
            suffix = ".tmp" + ("".join(path.suffixes) if keep_suffix else "")
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
            os.close(fd)
            tmp = Path(name)
    except OSError as error:
        raise not_writable(path, error) from error
    try:
        yield tmp
        # mkstemp/mkdtemp create private (0600/0700) entries: give the output the usual mode
        os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~_umask())
        if directory and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException as error:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if isinstance(error, OSError) and not isinstance(error, MedroiError):
            raise not_writable(path, error) from error  # name the user's path, not the temporary one
        raise


def not_writable(path: str | os.PathLike, error: OSError) -> OutputNotWritableError:
    """The error for an output that cannot be written, naming ``path`` (never a temporary name)."""
    reason = error.strerror or type(error).__name__
    return OutputNotWritableError(f"cannot write {path}: {reason}; choose an output location you can write to")


def ensure_folder(folder: str | os.PathLike, target: str | os.PathLike | None = None) -> Path:
    """Create ``folder`` (and parents) or raise OutputNotWritableError naming ``target`` (or it)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise not_writable(folder if target is None else target, error) from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputNotWritableError(
            f"cannot write {folder if target is None else target}: permission denied; "
            "choose an output location you can write to"
        )
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (fsync before rename)."""
    with atomic_output(path, force, keep_suffix=False) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)
