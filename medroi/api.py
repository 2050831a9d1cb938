"""File-level operations shared by the CLI, the batch runner and the bundles.

``compress_file`` / ``decompress_file`` / ``file_info`` / ``evaluate_files`` each return a
JSON-serializable dict (what ``medroi ... --json`` prints). Heavy imports stay lazy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medroi.errors import CorruptFileError, InputNotFoundError, InvalidImageError, MedroiError
from medroi.fsutil import atomic_write_bytes, check_output

#: Upper bound on a .mroi file read into memory (a whole 16-bit CT series fits easily).
MAX_MROI_BYTES = 4 << 30


def _read_mroi(path: str | os.PathLike) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such .mroi file")
    if path.stat().st_size > MAX_MROI_BYTES:
        raise CorruptFileError(f"{path}: larger than {MAX_MROI_BYTES} bytes, not a .mroi file medroi wrote")
    return path.read_bytes()


#: The NROI bound used where an ROI is known and the user gave none.
DEFAULT_NROI_MAX_ERROR = 4
#: ``nroi_max_error=DEFAULT``: DEFAULT_NROI_MAX_ERROR where an ROI is known, lossless where none is.
DEFAULT = "default"
#: What each ``roi_rule`` (in results, ``info`` and manifests) means.
ROI_RULES = {
    "mask": "ROI from a mask file; ROI and NROI within their bounds",
    "model": "ROI found by a model that fits the input; ROI and NROI within their bounds",
    "no-roi-lossless": "no ROI known: stored lossless (no bound was given)",
    "no-roi-bound": "no ROI known: the whole image within the --nroi-max-error given",
    "label": "a label image: stored lossless",
    "paper": "the paper's pipeline, asked for with --mode paper: lossy everywhere",
}
NO_ROI_HINT = "pass --nroi-max-error N to compress the whole image within N"


def roi_description(roi_mask_path, roi_labels, roi) -> str:
    """One line saying where a compression's ROI comes from (before the image is read)."""
    if roi_mask_path is not None:
        labels = "any non-zero label" if roi_labels is None else "labels " + ",".join(map(str, roi_labels))
        return f"ROI from {roi_mask_path} ({labels})"
    if roi == "auto":
        return "ROI from the network's U-Net (--roi auto)"
    if roi == "none":
        return "no ROI (--roi none)"
    return "ROI from a model that fits the input, if any; without an ROI the image is stored lossless"


def _message(rule: str, source: str, roi_bound, nroi_bound) -> str:
    """The one line the CLI prints after a compression: which rule applied and why."""
    if rule == "no-roi-lossless":
        return f"no ROI ({source}): stored lossless; {NO_ROI_HINT}"
    if rule == "no-roi-bound":
        return f"no ROI ({source}): the whole image within {nroi_bound} (--nroi-max-error)"
    if rule == "label":
        return f"label image ({source}): stored lossless"
    if rule == "paper":
        return f"the paper's pipeline (--mode paper): lossy everywhere; ROI: {source}"
    nroi = "the autoencoder's reconstruction" if nroi_bound is None else f"within {nroi_bound}"
    return f"ROI: {source}; ROI within {roi_bound}, the rest {nroi}"


def auto_roi(network, image, input_path, *, roi_source=None, roi_margin=None) -> tuple[np.ndarray, dict]:
    """The ``--roi auto`` mask and its report. ``roi_source``: a co-registered image of the
    same shape (a BRATS case's FLAIR) whose ROI is used instead. When the model's prediction
    is implausible (:func:`medroi.autoroi.postprocess.check`) the fallback is the whole image
    as ROI, i.e. kept within ``--roi-max-error`` (lossless by default)."""
    mask, report, _ = auto_roi_with_raw(network, image, input_path, roi_source=roi_source, roi_margin=roi_margin)
    return mask, report


def auto_roi_with_raw(network, image, input_path, *, roi_source=None,
                      roi_margin=None) -> tuple[np.ndarray, dict, np.ndarray | None]:
    """:func:`auto_roi`, plus the U-Net's raw thresholded mask (before clean-up and margin; None
    when the model refused the input before segmenting it), for evaluation."""
    from medroi.autoroi.inputs import is_monochrome1, modality_hint, spacing_of
    from medroi.io import read_image

    source = image if roi_source is None else read_image(roi_source)
    if source.shape != image.shape:
        raise InvalidImageError(f"ROI source {roi_source} has shape {source.shape}, the image {image.shape}")
    result = network.auto_roi(source.array, spacing=spacing_of(source.metadata),
                              invert=is_monochrome1(source.metadata),
                              modality=modality_hint(roi_source or input_path, source.metadata), margin=roi_margin)
    report = {"model": network.identity["name"], "source": Path(str(roi_source or input_path)).name,
              "status": "ok" if result.accepted else "fallback", "reason": result.reason, **result.stats}
    if not result.accepted:
        report["fallback"] = "whole image kept within --roi-max-error"
        return np.ones(image.shape, bool), report, result.raw
    return result.mask, report, result.raw


def model_roi_source(report: dict, mask, why: str) -> str:
    """The ``roi_source`` line recorded for an :func:`auto_roi` ROI (``why``: how the model was chosen)."""
    name = report["model"]
    if report["status"] == "fallback":  # implausible prediction: the whole image is the ROI
        return f"model {name} rejected its ROI ({report['reason']}): whole image kept within --roi-max-error"
    if mask is None or not np.any(mask):  # a model may find nothing
        return f"model {name} found none"
    return f"model {name} ({why})"


def load_network(model: str | None, image_format: str):
    """The network predictor for ``model`` (a bundle name or a path); imports torch."""
    from medroi.networks.runtime import load_model  # torch only, never monai

    return load_model(model, image_format)


class _SliceBar:
    """A tqdm bar over slices on stderr, created on the first call (only for volumes)."""

    def __init__(self, label: str, enabled: bool):
        self.label, self.enabled, self.bar = label, enabled, None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < 2:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.label, unit="slice", leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _decoding_predictor(header: dict, model: str | None = None):
    """The network a file names (or ``model``), or None for the classical predictor."""
    if header["predictor"].get("kind") != "network":
        return None
    return load_network(model or header["predictor"].get("name"), "mroi")


def mroi_metadata(image_format: str, name: str, source: dict, **extra) -> dict:
    """What a .mroi header keeps to write the decoded image back (format, file name, reader
    metadata), plus ``extra`` fields (how the ROI was chosen, the input's size)."""
    return {"format": image_format, "name": name, "source": source, **extra}


def _check_options(roi, mode, predictor, nroi_max_error) -> None:
    """Refuse option combinations before any file is read or any network loaded."""
    if predictor not in ("classical", "network"):
        raise InvalidImageError(f"predictor must be 'classical' or 'network', got {predictor!r}")
    if mode not in ("residual", "paper"):
        raise InvalidImageError(f"mode must be 'residual' or 'paper', got {mode!r}")
    if roi not in (None, DEFAULT, "mask", "auto", "none"):
        raise InvalidImageError(f"roi must be 'mask', 'auto', 'none' or None (default), got {roi!r}")
    if nroi_max_error is None and mode == "residual" and predictor == "classical":
        raise InvalidImageError(
            "--nroi-max-error none keeps the autoencoder's reconstruction alone outside the ROI, which needs a "
            "network: add --predictor network (and --model NAME if no shipped model fits the input), or give a "
            "bound such as --nroi-max-error 4"
        )


def _read_roi(image, roi_mask_path, roi_labels) -> np.ndarray:
    """The mask file's ROI at the image's shape (a 2D mask covers every colour channel)."""
    from medroi.io import read_mask

    channels = int(image.metadata.get("channels") or 1) if isinstance(image.metadata, dict) else 1
    shape = image.shape[:-1] if channels > 1 else image.shape
    mask = read_mask(roi_mask_path, roi_labels, shape=shape)
    return np.repeat(mask[..., None], channels, axis=-1) if channels > 1 else mask


def compress_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    roi_mask_path: str | os.PathLike | None = None,
    roi_labels: Sequence[int] | None = None,
    roi: str | None = None,
    roi_max_error: int = 0,
    nroi_max_error: int | None | str = DEFAULT,
    entropy: str = "ans",
    mode: str = "residual",
    model: str | None = None,
    predictor: str = "classical",
    force: bool = False,
    frame: int | None = None,
    quantize_step: float | None = None,
    progress: bool = False,
    label: str | None = None,
    detect_labels: bool = False,
    roi_margin: str | None = None,
    roi_source: str | os.PathLike | None = None,
) -> dict:
    """Read a medical image, compress it to ``output_path`` (.mroi, atomic) and report.

    ``roi``: None (default: the mask if given, else a shipped model that fits the input,
    else none), "mask" (the mask file or none; no model), "auto" (a network's U-Net: ``model``
    or the one that fits; refused when none fits), "none". A model's ROI comes from
    :func:`auto_roi` (``roi_margin`` e.g. "3mm", default the model's; ``roi_source`` a
    co-registered image, a BRATS case's FLAIR, whose ROI is used instead).
    ``nroi_max_error``: a bound, None (the autoencoder's reconstruction alone) or DEFAULT:
    4 where an ROI is known and 0 (lossless) where none is (no mask, no fitting model, or
    an empty ROI). A bound given explicitly is always obeyed.
    ``mode``: "residual" (guaranteed bounds) or "paper" (autoencoder latent + mask only).
    ``predictor``: "classical" (default: it measured smaller files on BRATS, see
    benchmarks/results/codecs.md) or "network" (the autoencoder's reconstruction as one more
    reference). ``model`` names the network (a bundle name or path); it overrides the choice
    by what the input is (``medroi.networks.selection``).
    ``label`` (why the caller knows this is a label image) or ``detect_labels`` (look at the
    pixels) store label images losslessly. The result's ``roi_rule`` (see ``ROI_RULES``) and
    ``message`` say which rule applied; both are recorded in the file (``file_info``).
    """
    from medroi import codec
    from medroi.io import read_image
    from medroi.labels import label_content_reason
    from medroi.networks.selection import choose_model, describe_input, input_summary

    start = time.perf_counter()
    output_path = check_output(output_path, force)  # before any reading or network
    _check_options(roi, mode, predictor, nroi_max_error)
    explicit_bound = nroi_max_error != DEFAULT
    image = read_image(input_path, frame=frame, quantize_step=quantize_step, colour="planes")
    description = describe_input(image, input_path)
    if label is None and detect_labels and roi_mask_path is None:
        label = label_content_reason(image.array)
    if label is not None:  # label images: lossless, whatever else was asked
        roi, roi_mask_path, mode, predictor, model = "none", None, "residual", "classical", None
        roi_max_error, nroi_max_error, explicit_bound = 0, 0, True

    uses_network = roi == "auto" or mode == "paper" or predictor == "network"
    model_name = model
    if model_name is None and (uses_network or (roi in (None, DEFAULT) and roi_mask_path is None)):
        model_name = choose_model(description)
    if uses_network and model_name is None:
        from medroi.networks.selection import shipped_models

        raise InvalidImageError(
            f"{input_path}: no shipped model fits this input ({input_summary(description)}); pass --model NAME "
            f"to use one anyway (shipped: {', '.join(shipped_models()) or 'none'}), or drop the options that "
            "need a network (--roi auto, --predictor network, --mode paper)"
        )
    if model_name is not None and description["channels"] > 1 and (uses_network or model is not None):
        raise InvalidImageError(
            f"{input_path}: the models take single-channel images, this one has {description['channels']} colour "
            "channels; drop --model / --roi auto / --predictor network / --mode paper"
        )
    network, roi_auto = None, None
    if roi_mask_path is not None:
        roi_mask = _read_roi(image, roi_mask_path, roi_labels)
        labels_text = "any non-zero label" if roi_labels is None else "labels " + ",".join(map(str, roi_labels))
        source, rule = f"mask {roi_mask_path}, {labels_text}", "mask"
    elif roi == "auto" or (roi in (None, DEFAULT) and model_name is not None and description["channels"] == 1):
        network = load_network(model_name, image.format)
        roi_mask, roi_auto = auto_roi(network, image, input_path, roi_source=roi_source, roi_margin=roi_margin)
        why = "--model" if model is not None else f"fits {input_summary(description)}"
        source, rule = model_roi_source(roi_auto, roi_mask, why), "model"
    else:
        roi_mask = None
        if label is not None:
            source = label
        elif roi == "none":
            source = "--roi none"
        elif roi == "mask":
            source = "no mask given"
        else:
            source = f"no mask given; no shipped model fits {input_summary(description)}"
        rule = "label" if label is not None else "none"
    has_roi = roi_mask is not None and bool(np.any(roi_mask))
    if rule == "mask" and not has_roi:
        source = f"mask {roi_mask_path} is empty"
    if (predictor == "network" or mode == "paper") and network is None:
        network = load_network(model_name, image.format)

    if mode == "paper":  # the paper's pipeline: latent + mask only, lossy everywhere
        roi_max_error = nroi_max_error = None
        predictor, rule = "network", "paper"
    elif rule == "label":
        pass
    elif not has_roi:
        rule = "no-roi-bound" if explicit_bound else "no-roi-lossless"
        if not explicit_bound:
            nroi_max_error = 0
    elif not explicit_bound:
        nroi_max_error = DEFAULT_NROI_MAX_ERROR
    metadata = mroi_metadata(image.format, Path(str(input_path)).name, image.metadata, roi_rule=rule,
                             roi_source=source,
                             input_bytes=input_file_bytes(input_path))  # for cr_vs_input_file in `medroi info`
    if roi_auto is not None:
        metadata["roi_auto"] = roi_auto
    bar = _SliceBar("compress", progress)
    try:
        data = codec.compress(
            image.array,
            roi_mask if has_roi else None,
            roi_max_error=roi_max_error,
            nroi_max_error=nroi_max_error,
            predictor=network if predictor == "network" else None,
            entropy=entropy,
            metadata=metadata,
            progress=bar,
        )
    finally:
        bar.close()
    stored = "pixels"
    if mode == "residual" and frame is None and quantize_step is None:
        kept = _kept_source(input_path, image, roi_mask, data, (roi_max_error, nroi_max_error))
        if kept is not None:
            data, stored = kept, "the input file, byte-exact (smaller than coding its pixels)"
    atomic_write_bytes(output_path, data, force=force)
    raw_bytes = int(image.array.nbytes)
    input_bytes = metadata["input_bytes"]
    return {
        "input": str(input_path),
        "output": str(output_path),
        "format": image.format,
        "shape": list(image.shape),
        "dtype": image.array.dtype.name,
        "raw_bytes": raw_bytes,
        "input_bytes": input_bytes,
        "compressed_bytes": len(data),
        "cr": raw_bytes / len(data),
        "cr_vs_input_file": input_bytes / len(data) if input_bytes else None,
        "roi_max_error": roi_max_error,
        "nroi_max_error": nroi_max_error,
        "lossless": roi_max_error == 0 and nroi_max_error == 0 if has_roi else nroi_max_error == 0,
        "roi_fraction": float(np.mean(roi_mask)) if has_roi else 0.0,
        "roi_rule": rule,
        "roi_source": source,
        "roi": source,
        "message": _message(rule, source, roi_max_error, nroi_max_error),
        "predictor": "classical" if predictor == "classical" else network.identity["name"],
        "roi_model": network.identity["name"] if rule == "model" else None,
        "roi_auto": roi_auto,
        "entropy": entropy,
        "stored": stored,
        "seconds": time.perf_counter() - start,
    }


def _kept_source(input_path, image, roi_mask, data: bytes, requested) -> bytes | None:
    """.mroi bytes keeping the input file itself when that is smaller than ``data`` (an already
    compressed JPEG / JPEG 2000 DICOM: its pixels stored losslessly take ~3x the file), else None."""
    from medroi import codec
    from medroi.codec import kept

    path = Path(input_path)
    if not path.is_file() or image.format not in kept.SUFFIXES or path.stat().st_size >= len(data):
        return None
    header = {k: v for k, v in codec.read_header(data).items()
              if k not in ("chunk_bytes", "file_bytes", "format_version")}
    # the image's own metadata is in the file itself; the rest (ROI rule, sizes) stays
    header["metadata"] = {k: v for k, v in header["metadata"].items() if k != "source"}
    mask = np.zeros(image.shape, bool) if roi_mask is None else roi_mask
    candidate = kept.pack(header, path.read_bytes(), path.name, image.format, image.array, mask, requested)
    return candidate if len(candidate) < len(data) else None


def input_file_bytes(path: str | os.PathLike) -> int:
    """Bytes of the input as the user has it (a DICOM series folder: all its files)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def decompress_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    mask_out: str | os.PathLike | None = None,
    model: str | None = None,
    force: bool = False,
    progress: bool = False,
    output_format: str | None = None,
    max_output_bytes: int | str | None = None,
) -> dict:
    """Decode a .mroi file and write the image in the format its extension names (or ``output_format``).

    ``mask_out``: also write the decoded ROI mask, as uint8 labels (1 = ROI) in the format
    its extension names, with the image's geometry (``medroi.io.mask_image``). DICOM output
    of a lossy file is a new derived series (``medroi.io.dicom_write``). ``max_output_bytes``
    (e.g. "8G") raises or lowers the decoder's memory cap (see ``medroi.codec.decompress``).
    """
    from medroi import codec
    from medroi.io import MedicalImage, write_image
    from medroi.io.api import mask_image

    start = time.perf_counter()
    check_output(output_path, force)
    if mask_out is not None:
        check_output(mask_out, force)
    data = _read_mroi(input_path)
    header = codec.read_header(data)
    predictor = _decoding_predictor(header, model)
    bar = _SliceBar("decompress", progress)
    try:
        decoded = codec.decompress(data, predictor=predictor, progress=bar, max_output_bytes=max_output_bytes)
    finally:
        bar.close()
    source = decoded.metadata if isinstance(decoded.metadata, dict) else {}
    image = MedicalImage(
        array=decoded.array,
        format=str(source.get("format", "nifti" if decoded.array.ndim == 3 else "png")),
        metadata=dict(source.get("source", {})),
        source=str(input_path),
    )
    lossy = None
    roi_bound, nroi_bound = header["roi_max_error"], header["nroi_max_error"]
    if (roi_bound != 0 and decoded.roi_mask.any()) or (nroi_bound != 0 and not decoded.roi_mask.all()):
        cr = decoded.array.nbytes / len(data)
        describe = lambda b: "the autoencoder's reconstruction" if b is None else f"max error {b}"  # noqa: E731
        lossy = {"ratio": round(cr, 2), "method": "MEDROI",
                 "description": f"medroi ROI compression: ROI {describe(roi_bound)}, elsewhere "
                                f"{describe(nroi_bound)}; ratio {cr:.2f}"}
    kept = header.get("kept_source")
    if kept is not None and output_format is None and _same_format(output_path, kept):  # the user's file as it was
        source_bytes, _ = codec.kept.source_file(codec.container.unpack(data))
        written = atomic_write_bytes(output_path, source_bytes, force=force)
    else:
        written = write_image(image, output_path, force=force, lossy=lossy, fmt=output_format)
    if mask_out is not None:
        write_image(mask_image(image, decoded.roi_mask), mask_out, force=force)
    return {
        "input": str(input_path),
        "output": str(written),
        "mask_out": None if mask_out is None else str(mask_out),
        "shape": list(decoded.array.shape),
        "dtype": decoded.array.dtype.name,
        "roi_max_error": header["roi_max_error"],
        "nroi_max_error": header["nroi_max_error"],
        "lossless": lossy is None,
        "roi_rule": source.get("roi_rule"),
        "original_file_bytes_restored": kept is not None and output_format is None and _same_format(output_path, kept),
        "seconds": time.perf_counter() - start,
    }


def _same_format(output_path, kept: dict) -> bool:
    """Whether ``output_path`` names a file of the kept source's format (and gzip-ness for NIfTI)."""
    from medroi.io.formats import format_from_extension

    gz = str(output_path).lower().endswith(".gz") == str(kept["name"]).lower().endswith(".gz")
    return format_from_extension(output_path) == kept["format"] and (kept["format"] != "nifti" or gz)


def file_info(path: str | os.PathLike) -> dict:
    """What a .mroi file holds, from its header (no pixel decoding)."""
    from medroi import codec

    data = _read_mroi(path)
    header = codec.read_header(data)
    raw = int(np.prod(header["shape"])) * np.dtype(header["dtype"]).itemsize
    metadata = header.get("metadata", {}) if isinstance(header.get("metadata"), dict) else {}
    return {
        "file": str(path),
        "file_bytes": header["file_bytes"],
        "shape": header["shape"],
        "dtype": header["dtype"],
        "slices": len(header["chunk_bytes"]) if "kept_source" not in header
        else 1 if len(header["shape"]) == 2 else header["shape"][header["slice_axis"]],
        "slice_axis": header["slice_axis"],
        "source_format": metadata.get("format"),
        "source_name": metadata.get("name"),
        "roi_max_error": header["roi_max_error"],
        "nroi_max_error": header["nroi_max_error"],
        "roi_fraction": header.get("roi_fraction"),
        "roi_rule": metadata.get("roi_rule"),
        "roi_source": metadata.get("roi_source"),
        "roi_auto": metadata.get("roi_auto"),
        "entropy": header["entropy"],
        "predictor": header["predictor"],
        "gop": header["gop"],
        "raw_bytes": raw,
        "cr": raw / header["file_bytes"],
        "cr_vs_input_file": metadata["input_bytes"] / header["file_bytes"]
        if isinstance(metadata.get("input_bytes"), int) and metadata["input_bytes"] > 0 else None,
        "medroi_version": header.get("medroi_version"),
        "format_version": header["format_version"],
        "kept_source": header.get("kept_source"),
    }


def evaluate_files(
    original_path: str | os.PathLike,
    reconstruction_path: str | os.PathLike,
    *,
    roi_mask_path: str | os.PathLike | None = None,
    roi_labels: Sequence[int] | None = None,
) -> dict:
    """Compare a reconstruction with its original: PSNR (overall/ROI/NROI), SSIM, max errors.

    The ROI is ``roi_mask_path`` when given, else, for a ``.mroi`` reconstruction, the ROI the
    file stores (``roi_from`` in the report says which; without either, everything is NROI)."""
    from medroi import metrics
    from medroi.io import read_image

    image = read_image(original_path)
    original = image.array
    reconstruction, stored_roi = _read_any(reconstruction_path)
    if reconstruction.shape != original.shape:
        raise InvalidImageError(
            f"shapes differ: original {original.shape}, reconstruction {reconstruction.shape}; "
            "compare an image with its own reconstruction"
        )
    if roi_mask_path is not None:
        roi, roi_from = _read_roi(image, roi_mask_path, roi_labels), str(roi_mask_path)
    else:
        roi, roi_from = stored_roi, ("the ROI stored in the .mroi file" if stored_roi is not None else "none")
    report = metrics.region_report(original, reconstruction, roi)
    report.update({"original": str(original_path), "reconstruction": str(reconstruction_path), "roi_from": roi_from})
    return report


def preview_file(
    mroi_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    original_path: str | os.PathLike | None = None,
    slice_index: int | None = None,
    force: bool = False,
) -> dict:
    """Write a PNG of one slice: original, reconstruction, error map (with bounds), ROI outline."""
    from medroi import codec
    from medroi.fsutil import atomic_output
    from medroi.io import read_image
    from medroi.preview import save_preview

    check_output(output_path, force)  # before any decoding (which may load a network)
    data = _read_mroi(mroi_path)
    decoded = codec.decompress(data, predictor=_decoding_predictor(codec.read_header(data)))
    header = decoded.header
    original = decoded.array if original_path is None else read_image(original_path).array
    if original.shape != decoded.array.shape:
        raise InvalidImageError(f"original {original.shape} and decoded {decoded.array.shape} shapes differ")
    if slice_index is not None and decoded.array.ndim == 3 and not 0 <= slice_index < decoded.array.shape[-1]:
        raise InvalidImageError(f"slice {slice_index} does not exist (the volume has {decoded.array.shape[-1]})")
    with atomic_output(output_path, force) as tmp:
        save_preview(original, decoded.array, decoded.roi_mask, tmp.with_suffix(".png"),
                     (header["roi_max_error"], header["nroi_max_error"]), slice_index,
                     title=f"{Path(str(mroi_path)).name}")
        os.replace(tmp.with_suffix(".png"), tmp)
    return {"input": str(mroi_path), "output": str(output_path), "original": original_path is not None}


def _read_any(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """(pixels, stored ROI mask) of a .mroi file (decoded), or (pixels, None) of an image file."""
    if str(path).endswith(".mroi"):
        from medroi import codec

        data = _read_mroi(path)
        decoded = codec.decompress(data, predictor=_decoding_predictor(codec.read_header(data)))
        return decoded.array, np.asarray(decoded.roi_mask, dtype=bool)
    from medroi.io import read_image

    return read_image(path).array, None


__all__ = ["compress_file", "decompress_file", "file_info", "evaluate_files", "MedroiError"]
