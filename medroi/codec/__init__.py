"""The medroi codec: ``compress(image, roi_mask, ...) -> bytes`` and ``decompress(bytes)``.

numpy and constriction only (no torch, no monai): the classical path starts fast. A
network predictor, when given, brings its own torch import.

Guarantee: every ROI pixel is within ``roi_max_error`` of the original and every NROI
pixel within ``nroi_max_error`` (``None``: NROI is the autoencoder's reconstruction alone).
A bound of 0 is bit-exact.
"""

from __future__ import annotations

import functools

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from medroi import __version__
from medroi.codec import blockgrid, container, histogram, kept, limits, raster
from medroi.codec.entropy import Decoder, Encoder
from medroi.codec.predictors import Predictor, network_references, reference_checksum
from medroi.codec.slice_coder import (HUFFMAN_MODEL, HUFFMAN_MODELS, Bounds, Models, decode_mask, decode_pixels,
                                     encode_mask, encode_pixels)
from medroi.errors import CorruptFileError, InvalidImageError, LossyInputError, ModelMismatchError

SUPPORTED_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32")
MAX_BOUND = 1 << 16
MAX_DIM = 1 << 16
MAX_VOXELS = 1 << 31
DEFAULT_GOP = 32

__all__ = ["compress", "decompress", "decompress_slice", "read_header", "DecodedImage", "SUPPORTED_DTYPES"]


@dataclass
class DecodedImage:
    """What ``decompress`` returns; unpacks as ``array, roi_mask, metadata``."""

    array: np.ndarray
    roi_mask: np.ndarray
    metadata: dict
    header: dict = field(repr=False)

    def __iter__(self) -> Iterator:
        return iter((self.array, self.roi_mask, self.metadata))


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.size == 0:
        raise InvalidImageError("the image is empty (a dimension has size 0)")
    if image.ndim not in (2, 3):
        raise InvalidImageError(
            f"the codec takes a 2D slice or a 3D volume, got {image.ndim} dimensions {image.shape}; "
            "pick one frame of a 4D volume first"
        )
    if image.dtype.kind == "f":
        raise LossyInputError(
            f"the image is {image.dtype}; the codec stores integers: convert integral floats to ints, "
            "or quantize at a declared step (medroi compress --quantize-step STEP)"
        )
    if image.dtype.name not in SUPPORTED_DTYPES:
        raise InvalidImageError(f"dtype {image.dtype} is not supported; use one of {', '.join(SUPPORTED_DTYPES)}")
    if max(image.shape) > MAX_DIM or image.size > MAX_VOXELS:
        raise InvalidImageError(f"image {image.shape} is larger than the codec's limits")
    return image


def _check_bound(name: str, value: int | None, allow_none: bool) -> int | None:
    if value is None:
        if not allow_none:
            raise InvalidImageError(f"{name} must be an integer >= 0")
        return None
    if isinstance(value, bool) or int(value) != value or not 0 <= int(value) < MAX_BOUND:
        raise InvalidImageError(f"{name} must be an integer in [0, {MAX_BOUND - 1}], got {value!r}")
    return int(value)


def _slices(array: np.ndarray, slice_axis: int) -> np.ndarray:
    """(N, H, W) view of a volume, or (1, H, W) of a 2D image."""
    return array[None] if array.ndim == 2 else np.moveaxis(array, slice_axis, 0)


def compress(
    image: np.ndarray,
    roi_mask: np.ndarray | None = None,
    roi_max_error: int = 0,
    nroi_max_error: int | None = 4,
    predictor: Predictor | None = None,
    entropy: str = "ans",
    slice_axis: int = -1,
    metadata: dict | None = None,
    gop: int = DEFAULT_GOP,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Compress a 2D image or 3D volume of integers; returns the .mroi bytes.

    Args:
        image: native integer array, (H, W) or a volume sliced along ``slice_axis``.
        roi_mask: boolean array of the image's shape; None = no ROI (all NROI).
        roi_max_error / nroi_max_error: maximum absolute error per region (0 = lossless);
            None keeps the network's reconstruction alone in that region (both None: the
            paper's pipeline, latent + mask only).
        predictor: a network predictor (see ``medroi.codec.predictors``); None = classical.
        entropy: "ans" (default) or "huffman" (the paper's coder; slow).
        metadata: JSON-serializable source metadata to restore the file (``medroi.io``).
        gop: a volume's slices are predicted from the previous slice within groups of this
            many; decoding one slice decodes at most ``gop`` slices.
        progress: called as ``progress(done, total)`` after each slice (e.g. a progress bar).
    """
    image = _check_image(image)
    roi_bound = _check_bound("roi_max_error", roi_max_error, allow_none=True)
    nroi_bound = _check_bound("nroi_max_error", nroi_max_error, allow_none=True)
    if (roi_bound is None or nroi_bound is None) and predictor is None:
        raise InvalidImageError("a bound of None (autoencoder only) needs a network predictor")
    if entropy not in ("ans", "huffman"):
        raise InvalidImageError(f"entropy must be 'ans' or 'huffman', got {entropy!r}")
    if roi_mask is None:
        roi_mask = np.zeros(image.shape, dtype=bool)
    roi_mask = np.asarray(roi_mask)
    if roi_mask.shape != image.shape:
        raise InvalidImageError(f"ROI mask shape {roi_mask.shape} differs from image shape {image.shape}")
    roi_mask = roi_mask.astype(bool)
    slice_axis = slice_axis % image.ndim
    if not isinstance(gop, int) or gop < 1:
        raise InvalidImageError("gop must be an integer >= 1")
    slices = _slices(image, slice_axis)
    masks = _slices(roi_mask, slice_axis)
    value_range = (int(image.min()), int(image.max()))
    bounds = Bounds(roi_bound, nroi_bound)
    # the used values of a lossless classical image (histogram packing, and ranks for mixing)
    used = histogram.used_values(image) if roi_bound == 0 and nroi_bound == 0 and predictor is None else None
    value_table = _value_table(slices, used)
    coding_range = value_range
    if value_table is not None:  # code ranks of the used values (lossless only), slice by slice
        coding_range = (0, value_table.size - 1)

    header = {
        "medroi_version": __version__,
        "shape": list(image.shape),
        "dtype": image.dtype.name,
        "slice_axis": slice_axis,
        "value_range": list(value_range),
        "roi_max_error": roi_bound,
        "nroi_max_error": nroi_bound,
        "entropy": entropy,
        "gop": gop,
        "roi_fraction": float(roi_mask.mean()),
        "predictor": {"kind": "classical"} if predictor is None else predictor.identity,
        "metadata": metadata or {},
    }
    if entropy == "huffman":  # the Huffman bitstream's revision (absent: 1, medroi 0.3.0)
        header["huffman_model"] = HUFFMAN_MODEL
    network = network_references(predictor, slices, masks) if predictor is not None else None
    if network is not None:
        header["predictor"] = {**predictor.identity, "window": list(network.window)}
    grid = blockgrid.detect(slices[0]) if slices.shape[0] == 1 and entropy == "ans" else None
    if grid is not None:  # a 2D image that went through JPEG: block-edge contexts
        header["block_grid"] = grid
    block = blockgrid.classes(slices.shape[1:], grid)
    positions = blockgrid.positions(slices.shape[1:], grid)  # what context mixing uses instead
    encode = functools.partial(_encode_chunks, slices, masks, network, value_table, coding_range, bounds, entropy, gop)
    two_d = network is None and slices.shape[0] == 1
    # lossless 2D with the range coder: context mixing (format 6), with JPEG XL's weighted
    # predictor or MED. Its models subsume the blend, MED's lattice and the exact differences,
    # so those are not coded (on all 97 grey 2D images of the shared data a mixing mode won,
    # the blend by 0.6-35 %: benchmarks/results/mixing.md)
    mixing_applies = two_d and entropy == "ans" and bounds == Bounds(0, 0) and bool(MIX_CANDIDATES)
    prediction, first = MIX_CANDIDATES[0] if mixing_applies else (None, raster.PREDICT_BLEND)
    chunks = encode(progress=progress, med_only=first, block=positions if mixing_applies else block)
    if two_d:
        # a 2D image: MED alone wins where values sit on a lattice (contrast-stretched
        # radiographs), the blend elsewhere; with the range coder also MED with contexts of
        # exact local differences (radiographs whose neighbour differences sit on a comb);
        # every candidate is coded and the smallest is kept
        candidates = [("med", raster.PREDICT_MED)] + ([("med_exact", raster.PREDICT_MED_EXACT)] if entropy == "ans" else [])
        if mixing_applies:
            candidates = list(MIX_CANDIDATES[1:])
        for name, mode in candidates:
            other = encode(progress=None, med_only=mode, block=positions if mode in raster.MIX_MODES else block)
            if sum(map(len, other)) < sum(map(len, chunks)):
                chunks, prediction = other, name
        sparse = _sparse_table(used, value_table) if mixing_applies else None
        if sparse is not None:
            # ranks where the estimate said no: a gap in the used values (CT's -2000 outside the
            # field of view, ~1000 below the air) costs large residuals at every crossing, which
            # mixing's contexts then carry around (693_UNCR: 84.7 -> 79.9 kB)
            ranked = functools.partial(_encode_chunks, slices, masks, network, sparse, (0, sparse.size - 1), bounds,
                                       entropy, gop)
            for name, mode in MIX_CANDIDATES:
                other = ranked(progress=None, med_only=mode, block=positions)
                if sum(map(len, other)) < sum(map(len, chunks)):
                    chunks, prediction, value_table = other, name, sparse
    lo, hi = coding_range
    if (network is None and 2 <= slices.shape[0] <= raster.MAX_PLANES and entropy == "ans"
            and bounds == Bounds(0, 0) and hi - lo < 1 << 30):
        # the planes of a colour image (or another 2-4 slice object, lossless): the first by
        # mixing, each other as its difference from the one before, kept where smaller than
        # the blend with references (colour radiographs whose planes nearly agree: gbcxr_011
        # 273.0 -> 267.2 kB)
        for name, mode in PLANE_CANDIDATES:
            other = encode(progress=None, med_only=mode, block=None)
            if sum(map(len, other)) < sum(map(len, chunks)):
                chunks, prediction = other, name
    if value_table is not None:
        header["value_table"] = histogram.encode_table(value_table)
    if prediction is not None:
        header["predictor"] = {**header["predictor"], "prediction": prediction}
    return container.pack(header, chunks, version=_format_version(header))


#: the container format a 2D prediction mode needs (header ``predictor.prediction``)
PREDICTION_FORMATS = {"med": 3, "med_exact": 4, "wp_mix": 5, "med_mix": 5, "wp_mix2": 6, "med_mix2": 6,
                      "wp_planes2": 6, "med_planes2": 6}
_PREDICTION_MODES = {None: raster.PREDICT_BLEND, "med": raster.PREDICT_MED, "med_exact": raster.PREDICT_MED_EXACT,
                     "wp_mix": raster.PREDICT_WP_MIX, "med_mix": raster.PREDICT_MED_MIX,
                     "wp_mix2": raster.PREDICT_WP_MIX2, "med_mix2": raster.PREDICT_MED_MIX2,
                     "wp_planes2": raster.PREDICT_WP_PLANES2, "med_planes2": raster.PREDICT_MED_PLANES2}
#: the context-mixing candidates a lossless 2D image is coded with (``mixing`` generation 2;
#: generation 1, "wp_mix" / "med_mix" of medroi 0.5.0, is still decoded)
MIX_CANDIDATES = (("wp_mix2", raster.PREDICT_WP_MIX2), ("med_mix2", raster.PREDICT_MED_MIX2))
#: the candidates a lossless object of 2-4 slices (a colour image's planes) is also coded with
PLANE_CANDIDATES = (("wp_planes2", raster.PREDICT_WP_PLANES2), ("med_planes2", raster.PREDICT_MED_PLANES2))


def _mixing_shape_ok(prediction: str, shape: list, slice_axis: int) -> bool:
    """Mixing codes 2D images; its colour-plane modes 2-4 planes; every other mode any shape."""
    slices = shape[slice_axis] if len(shape) == 3 else 1
    if _PREDICTION_MODES[prediction] in raster.PLANE_MIX_MODES:
        return 2 <= slices <= raster.MAX_PLANES
    return PREDICTION_FORMATS[prediction] < 5 or slices == 1


def _format_version(header: dict) -> int:
    """Format 4, 5 or 6 only where one of its features is used (exact-difference contexts, Huffman
    model 2; context mixing; its second generation): an older medroi refuses such a file by its
    number instead of misreading it, and reads every other file (format 3). (``container.pack``
    also writes format 6 where the header is large.)"""
    prediction_format = PREDICTION_FORMATS.get(header["predictor"].get("prediction"), 3)
    return max(prediction_format, 4 if header.get("huffman_model", 1) >= 2 else 3)


def _encode_chunks(slices, masks, network, value_table, coding_range, bounds, entropy, gop, progress,
                   med_only: int, block: np.ndarray | None) -> list[bytes]:
    """Every slice's chunk: its mask, the network's latent if any, its pixels."""
    chunks = []
    history: list[np.ndarray] = []
    previous_mask = None
    for k in range(slices.shape[0]):
        encoder = Encoder(entropy)
        first_of_group = k % gop == 0
        ref_mask = None if first_of_group else previous_mask
        if first_of_group:
            history, models = [], Models(exact=med_only == raster.PREDICT_MED_EXACT)
        encode_mask(encoder, masks[k], ref_mask, HUFFMAN_MODEL, models)
        references = _temporal_references(history)
        check = 0
        if network is not None:
            network.encode_latent(encoder, k)
            reference = network.reference(k)
            references = [reference] + references
            check = reference_checksum(reference)
        values = slices[k] if value_table is None else histogram.to_ranks(slices[k], value_table)
        recon = encode_pixels(encoder, values, masks[k], references, coding_range, bounds, models,
                              med_only=med_only, block=block, huffman_model=HUFFMAN_MODEL)
        chunks.append(check.to_bytes(4, "little") + encoder.finish())
        history = [recon] + history[:1]
        previous_mask = masks[k]
        if progress is not None:
            progress(k + 1, slices.shape[0])
    return chunks


def _value_table(slices: np.ndarray, used: np.ndarray | None) -> np.ndarray | None:
    """The used values (None: not a lossless classical file) when coding their ranks pays, else None."""
    return used if used is not None and used.size >= 2 and histogram.should_pack(slices, used) else None


def _sparse_table(used: np.ndarray | None, value_table: np.ndarray | None) -> np.ndarray | None:
    """The used values of a lossless image that was not packed but leaves at least a quarter of
    its range unused (context mixing then also tries its ranks), else None. (Radiographs that
    use nearly every value gain nothing from ranks: 4-50 bytes on three of them.)"""
    if value_table is not None or used is None or used.size < 2 or used.size > histogram.MAX_TABLE_VALUES:
        return None
    return None if 4 * used.size > 3 * int(used[-1] - used[0] + 1) else used


def _temporal_references(history: list[np.ndarray]) -> list[np.ndarray]:
    """References from the previous decoded slices of the group (newest first): the last
    slice, and the linear extrapolation of the last two."""
    if not history:
        return []
    if len(history) == 1:
        return [history[0]]
    return [history[0], 2 * history[0] - history[1]]


def _int(value, what: str) -> int:
    """A JSON integer (not a bool, float or string): damaged headers must not be guessed at."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CorruptFileError(f"file header is damaged: {what} is {value!r}, not an integer")
    return value


def _validated_header(parsed: container.Container) -> dict:
    """The header with every field the decoder uses type-checked and in range (a normalized copy)."""
    header = dict(parsed.header)
    try:
        shape = [_int(n, "a shape entry") for n in header["shape"]]
        dtype = header["dtype"]
        slice_axis = _int(header["slice_axis"], "slice_axis")
        lo, hi = (_int(v, "value_range") for v in header["value_range"])
        bounds = [header["roi_max_error"], header["nroi_max_error"]]
        for name, value in zip(("roi_max_error", "nroi_max_error"), bounds):
            if value is not None:
                _int(value, name)
            _check_bound(name, value, allow_none=True)
        gop = _int(header["gop"], "gop")
        entropy = header["entropy"]
        predictor = header["predictor"]
        metadata = header.get("metadata", {})
    except (KeyError, TypeError, ValueError, InvalidImageError) as error:
        raise CorruptFileError(f"file header is incomplete or damaged ({error})") from error
    if not isinstance(predictor, dict) or not isinstance(metadata, dict):
        raise CorruptFileError("file header is damaged: predictor and metadata must be JSON objects")
    if len(shape) not in (2, 3) or min(shape) < 1 or max(shape) > MAX_DIM or int(np.prod(shape)) > MAX_VOXELS:
        raise CorruptFileError(f"file header declares an impossible shape {shape}")
    if not isinstance(dtype, str) or dtype not in SUPPORTED_DTYPES:
        raise CorruptFileError(f"file header declares an unsupported dtype {dtype!r}")
    info = np.iinfo(dtype)
    if not (0 <= slice_axis < len(shape)) or not (info.min <= lo <= hi <= info.max) or gop < 1:
        raise CorruptFileError("file header has inconsistent values (axis, value range or gop)")
    if entropy not in ("ans", "huffman") or predictor.get("kind") not in ("classical", "network"):
        raise CorruptFileError("file header names an unknown entropy coder or predictor")
    if "block_grid" in header and (not blockgrid.is_valid(header["block_grid"]) or entropy != "ans"
                                   or parsed.version < 3):
        raise CorruptFileError(f"file header is damaged: block_grid {header['block_grid']!r}")
    if "prediction" in predictor and (predictor["prediction"] not in PREDICTION_FORMATS or predictor["kind"] != "classical"
                                      or parsed.version < PREDICTION_FORMATS[predictor["prediction"]]
                                      or (predictor["prediction"] != "med" and entropy != "ans")
                                      or (PREDICTION_FORMATS[predictor["prediction"]] >= 5 and bounds != [0, 0])
                                      or not _mixing_shape_ok(predictor["prediction"], shape, slice_axis)):
        raise CorruptFileError(f"file header is damaged: prediction {predictor['prediction']!r} for a "
                               f"{predictor['kind']} predictor in a format-{parsed.version} file")
    model = header.get("huffman_model", 1)
    if (type(model) is not int or model not in HUFFMAN_MODELS or ("huffman_model" in header and entropy != "huffman")
            or (model >= 2 and parsed.version < 4)):
        raise CorruptFileError(f"file header names Huffman model {model!r} for entropy {entropy!r}: "
                               "damaged, or written by a newer medroi (upgrade medroi)")
    if None in bounds and predictor["kind"] != "network":
        raise CorruptFileError("file header is damaged: a bound of None (network only) without a network")
    if "value_table" in header:
        if parsed.version < 3:
            raise CorruptFileError(f"file header is damaged: a value table in a format-{parsed.version} file")
        if bounds != [0, 0] or predictor["kind"] != "classical":
            raise CorruptFileError("file header is damaged: a value table in a file that is not lossless")
        histogram.table_count(header["value_table"], lo, hi, int(np.prod(shape)))  # decoded by its user
    n_slices = 1 if len(shape) == 2 else shape[slice_axis]
    if len(parsed.index) != n_slices:
        raise CorruptFileError(f"file has {len(parsed.index)} chunks for {n_slices} slices")
    header.update(shape=shape, slice_axis=slice_axis, value_range=[lo, hi], gop=gop, metadata=metadata)
    return header


def _decode_table(header: dict) -> np.ndarray:
    """The used values of a checked header's value table (histogram packing)."""
    return histogram.decode_table(header["value_table"], *header["value_range"], int(np.prod(header["shape"])))


def _slice_shape(header: dict) -> tuple[int, int]:
    shape, axis = header["shape"], header["slice_axis"]
    return tuple(shape) if len(shape) == 2 else tuple(n for i, n in enumerate(shape) if i != axis)


def read_header(data: bytes) -> dict:
    """The checked JSON header of .mroi bytes, with the file's chunk sizes and format version added."""
    parsed = container.unpack(data)
    if kept.is_kept(parsed.header):
        kept.check(parsed)
        header = dict(parsed.header)
    else:
        header = dict(_validated_header(parsed))
        if "value_table" in header:  # a damaged table is reported here too, not only on decoding
            _decode_table(header)
    header["chunk_bytes"] = [length for _, length, _ in parsed.index]
    header["file_bytes"] = len(parsed.data)
    header["format_version"] = parsed.version
    return header


class _SliceDecoder:
    """Decodes slices of one file, reusing the previous slice of a group."""

    def __init__(self, data: bytes, predictor: Predictor | None, max_output_bytes: int | str | None,
                 whole: bool = True):
        self.parsed = container.unpack(data)
        self.header = _validated_header(self.parsed)
        header = self.header
        self.slice_shape = _slice_shape(header)
        # a slice alone keeps at most two decoded slices of its group alive
        kept = len(self.parsed.index) if whole else 2
        limits.check_decode_size(header["shape"], header["dtype"], self.slice_shape[0] * self.slice_shape[1], kept,
                                 header["predictor"]["kind"] == "network", max_output_bytes)
        # the used values when ranks are coded (histogram packing), else None
        self.table = _decode_table(header) if "value_table" in header else None
        self.value_range = tuple(header["value_range"]) if self.table is None else (0, self.table.size - 1)
        self.dtype = np.dtype(header["dtype"])
        self.bounds = Bounds(header["roi_max_error"], header["nroi_max_error"])
        self.entropy = header["entropy"]
        self.gop = header["gop"]
        self.med_only = _PREDICTION_MODES[header["predictor"].get("prediction")]  # checked by _validated_header
        self.huffman_model = header.get("huffman_model", 1)
        mixed = self.med_only in raster.MIX_MODES + raster.PLANE_MIX_MODES
        block_of = blockgrid.positions if mixed else blockgrid.classes
        self.block = block_of(self.slice_shape, header.get("block_grid"))
        self.network = None
        if header["predictor"]["kind"] == "network":
            if predictor is None:
                raise ModelMismatchError(
                    f"this file was compressed with the network {header['predictor'].get('name')!r}; "
                    "decode it with that model (--model NAME|PATH)"
                )
            self.network = predictor.for_decoding(header["predictor"], self.slice_shape, self.entropy)
        self._cache: tuple[int, list[np.ndarray], np.ndarray, Models] | None = None

    def values(self, recon: np.ndarray) -> np.ndarray:
        """A decoded slice in the image's values and dtype."""
        return recon.astype(self.dtype) if self.table is None else histogram.from_ranks(recon, self.table, self.dtype)

    def decode(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Slice ``k`` and its mask (decodes from the start of its group as needed)."""
        group_start = (k // self.gop) * self.gop
        if self._cache is not None and group_start <= self._cache[0] < k:
            start, history, mask, models = self._cache[0] + 1, *self._cache[1:]
        else:
            start, history, mask, models = group_start, [], None, Models(exact=self.med_only == raster.PREDICT_MED_EXACT)
        for j in range(start, k + 1):
            self._cache = None  # models change in place: a failed slice leaves no stale cache
            recon, mask = self._decode_one(j, history, mask, models)
            history = [recon] + history[:1]
            self._cache = (j, history, mask, models)
        return history[0], mask

    def _decode_one(self, k: int, history: list[np.ndarray], previous_mask, models: Models):
        chunk = self.parsed.chunk(k)
        if len(chunk) < 4:
            raise CorruptFileError(f"chunk {k} is truncated")
        decoder = Decoder(chunk[4:], self.entropy)
        mask = decode_mask(decoder, self.slice_shape, previous_mask, self.huffman_model, models)
        references = _temporal_references(history)
        if self.network is not None:
            reference = self.network.decode_reference(decoder, k)
            if reference_checksum(reference) != int.from_bytes(chunk[:4], "little"):
                raise ModelMismatchError(
                    f"slice {k}: this machine's network output differs from the encoder's "
                    "(other weights or non-deterministic maths); refusing to decode wrong pixels"
                )
            references = [reference] + references
        recon = decode_pixels(decoder, self.slice_shape, mask, references, self.value_range, self.bounds, models,
                              version=self.parsed.version, med_only=self.med_only, block=self.block,
                              huffman_model=self.huffman_model)
        decoder.check_exhausted()
        return recon, mask


def _assemble(header: dict, stack: np.ndarray) -> np.ndarray:
    if len(header["shape"]) == 2:
        return stack[0]
    return np.moveaxis(stack, 0, header["slice_axis"])


def decompress(
    data: bytes,
    predictor: Predictor | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_output_bytes: int | str | None = None,
) -> DecodedImage:
    """Decode .mroi bytes to (array, roi_mask, metadata) at the original shape and dtype;
    ``progress(done, total)`` is called after each slice.

    ``max_output_bytes`` caps the memory the header may claim (image + mask + one slice's
    working set; default 4 GiB or $MEDROI_MAX_OUTPUT_BYTES): above it, LimitExceededError
    is raised before anything is allocated."""
    parsed = container.unpack(data)
    if kept.is_kept(parsed.header):  # the input file itself was kept (see medroi.codec.kept)
        array, mask, metadata = kept.decode(parsed)
        return DecodedImage(array, mask, metadata, parsed.header)
    decoder = _SliceDecoder(data, predictor, max_output_bytes)
    header = decoder.header
    n_slices = len(decoder.parsed.index)
    dtype = np.dtype(header["dtype"])
    stack = np.empty((n_slices, *decoder.slice_shape), dtype=dtype)
    masks = np.empty((n_slices, *decoder.slice_shape), dtype=bool)
    for k in range(n_slices):
        recon, mask = decoder.decode(k)
        stack[k] = decoder.values(recon)
        masks[k] = mask
        if progress is not None:
            progress(k + 1, n_slices)
    return DecodedImage(_assemble(header, stack), _assemble(header, masks), dict(header["metadata"]), header)


def decompress_slice(
    data: bytes, k: int, predictor: Predictor | None = None, max_output_bytes: int | str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode slice ``k`` alone (plus at most ``gop - 1`` slices before it in its group);
    ``max_output_bytes`` as for ``decompress``."""
    parsed = container.unpack(data)
    if kept.is_kept(parsed.header):  # a kept file decodes whole
        array, mask, _ = kept.decode(parsed)
        if array.ndim == 2:
            array, mask = array[None], mask[None]
        else:
            axis = parsed.header["slice_axis"]
            array, mask = np.moveaxis(array, axis, 0), np.moveaxis(mask, axis, 0)
        if not 0 <= k < array.shape[0]:
            raise InvalidImageError(f"slice {k} does not exist (the file has {array.shape[0]})")
        return array[k], mask[k]
    decoder = _SliceDecoder(data, predictor, max_output_bytes, whole=False)
    if not 0 <= k < len(decoder.parsed.index):
        raise InvalidImageError(f"slice {k} does not exist (the file has {len(decoder.parsed.index)})")
    recon, mask = decoder.decode(k)
    return decoder.values(recon), mask
