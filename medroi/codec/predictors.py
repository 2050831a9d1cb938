"""Predictors the codec can lean on besides the current slice itself.

The classical predictor needs nothing here: the previous decoded slice of a volume is the
reference (see ``compress``). A network predictor wraps a model with numpy methods
``encode(unit, mask) -> latent`` and ``decode(latent) -> unit`` (``medroi.networks.runtime``
loads one from TorchScript with torch alone); its reconstruction, rounded to integers,
becomes one more reference, and its latent symbols are entropy coded in the slice's chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import zlib

import numpy as np

from medroi.codec import entropy
from medroi.codec.entropy import Decoder, Encoder
from medroi.codec.slice_coder import emit_symbols, read_symbols
from medroi.errors import CorruptFileError, ModelMismatchError
from medroi.intensity import from_unit, integer_window, to_unit

_LATENT_OFFSET = 1 << 15


class NetworkModel(Protocol):
    """What the codec needs of a network (see ``medroi.networks.runtime``)."""

    name: str
    sha256: str

    def encode(self, unit: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    def decode(self, latent: np.ndarray) -> np.ndarray: ...


def encode_integers(encoder: Encoder, values: np.ndarray) -> None:
    """Code a small array of integers (e.g. latent symbols) around their median."""
    values = values.astype(np.int64).ravel()
    centre = int(np.clip(np.median(values), -_LATENT_OFFSET, _LATENT_OFFSET - 1)) if values.size else 0
    table, shift = entropy.best_coding(values - centre)
    encoder.add(np.array([centre + _LATENT_OFFSET]), entropy.uniform(2 * _LATENT_OFFSET))
    encoder.add(np.array([table, shift]), entropy.uniform(len(entropy.THETA_NUMERATORS)))
    emit_symbols(encoder, values - centre, table, shift)


def decode_integers(decoder: Decoder, count: int) -> np.ndarray:
    """Inverse of ``encode_integers``."""
    centre = int(decoder.read(1, entropy.uniform(2 * _LATENT_OFFSET))[0]) - _LATENT_OFFSET
    table, shift = (int(v) for v in decoder.read(2, entropy.uniform(len(entropy.THETA_NUMERATORS))))
    if shift > entropy.MAX_SHIFT:
        raise CorruptFileError("damaged latent coding parameters")
    return read_symbols(decoder, count, table, shift) + centre


def _padded_shape(shape: tuple[int, int], multiple: int = 8) -> tuple[int, int]:
    return tuple(-(-n // multiple) * multiple for n in shape)


def _pad(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.pad(array, [(0, shape[0] - array.shape[0]), (0, shape[1] - array.shape[1])], mode="edge")


@dataclass
class _NetworkCoding:
    """Per-file state of the network predictor, shared by encoding and decoding."""

    model: NetworkModel
    window: tuple[int, int]
    slice_shape: tuple[int, int]
    latents: list[np.ndarray] | None = None

    @property
    def latent_shape(self) -> tuple[int, int]:
        padded = _padded_shape(self.slice_shape)
        return padded[0] // 8, padded[1] // 8

    def _reference_from_latent(self, latent: np.ndarray) -> np.ndarray:
        # one slice per call, on both sides, so batch effects cannot change the maths
        unit = self.model.decode(latent[None].astype(np.int32))[0]
        height, width = self.slice_shape
        values = from_unit(unit[:height, :width], *self.window)
        return values.astype(np.int64)

    def encode_latent(self, encoder: Encoder, k: int) -> None:
        encode_integers(encoder, self.latents[k])

    def reference(self, k: int) -> np.ndarray:
        """The integer reconstruction of slice ``k`` from its latent (what the decoder computes)."""
        return self._reference_from_latent(self.latents[k])

    def decode_reference(self, decoder: Decoder, k: int) -> np.ndarray:
        latent = decode_integers(decoder, int(np.prod(self.latent_shape))).reshape(self.latent_shape)
        if np.abs(latent).max(initial=0) > _LATENT_OFFSET:
            raise CorruptFileError(f"slice {k}: latent symbols out of range (damaged file)")
        return self._reference_from_latent(latent)


class NetworkPredictor:
    """Plugs a network model into the codec; the file records its name and weights' SHA-256."""

    def __init__(self, model: NetworkModel, batch_size: int = 16):
        self.model = model
        self.batch_size = batch_size

    @property
    def identity(self) -> dict:
        return {"kind": "network", "name": self.model.name, "sha256": self.model.sha256}

    def for_decoding(self, recorded: dict, slice_shape: tuple[int, int], entropy_name: str) -> _NetworkCoding:
        if recorded.get("sha256") != self.model.sha256:
            raise ModelMismatchError(
                f"this file was compressed with model {recorded.get('name')!r} "
                f"(weights sha256 {str(recorded.get('sha256'))[:12]}...), but the model offered is "
                f"{self.model.name!r} ({self.model.sha256[:12]}...); decode with --model naming the original"
            )
        try:
            window = (int(recorded["window"][0]), int(recorded["window"][1]))
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as error:
            raise CorruptFileError("file header lacks the network's intensity window") from error
        if window[1] <= window[0]:
            raise CorruptFileError("file header has an empty network intensity window")
        return _NetworkCoding(self.model, window, slice_shape)


Predictor = NetworkPredictor


def reference_checksum(reference: np.ndarray) -> int:
    """CRC-32 of a rounded reconstruction: stored by the encoder, checked by the decoder."""
    return zlib.crc32(np.ascontiguousarray(reference, dtype="<i8").tobytes())


def network_references(predictor: NetworkPredictor, slices: np.ndarray, masks: np.ndarray):
    """Run the network's encoder over all slices (batched) and keep the latents."""
    window = integer_window(slices)
    slice_shape = tuple(slices.shape[1:])
    padded = _padded_shape(slice_shape)
    coding = _NetworkCoding(predictor.model, window, slice_shape, latents=[])
    for start in range(0, slices.shape[0], predictor.batch_size):
        batch = slices[start : start + predictor.batch_size]
        batch_masks = masks[start : start + predictor.batch_size]
        unit = np.stack([_pad(to_unit(s, *window), padded) for s in batch])
        mask = np.stack([_pad(m.astype(np.float32), padded) for m in batch_masks])
        coding.latents.extend(np.asarray(predictor.model.encode(unit, mask), dtype=np.int32))
    return coding
