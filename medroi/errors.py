"""The medroi error family: every failure a user can cause raises a MedroiError subclass
whose message says what went wrong and what to do about it."""

from __future__ import annotations


class MedroiError(Exception):
    """Base class of every error medroi raises on purpose."""


class InputNotFoundError(MedroiError, FileNotFoundError):
    """An input file or folder does not exist."""


class UnsupportedFormatError(MedroiError):
    """The file's format (extension, transfer syntax, dtype) is not one medroi handles."""


class InvalidImageError(MedroiError, ValueError):
    """The image cannot be compressed as given: empty, NaN, 4D without an index, wrong shape."""


class LossyInputError(InvalidImageError):
    """Lossless coding was asked for data that is not integral (e.g. float NIfTI)."""


class UnsupportedVersionError(UnsupportedFormatError):
    """A .mroi file written in a format version this medroi does not decode."""


class CorruptFileError(MedroiError):
    """A .mroi file is truncated, damaged or not a .mroi file at all."""


class ModelMismatchError(MedroiError):
    """A file was made with other network weights than the ones offered for decoding."""


class OutputExistsError(MedroiError, FileExistsError):
    """The output exists and --force was not given."""


class OutputNotWritableError(MedroiError, PermissionError):
    """The output (file or folder) cannot be created where the user asked for it."""


class LimitExceededError(MedroiError):
    """Decoding a file would take more memory than the configured cap (raise it to proceed)."""
