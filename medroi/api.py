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


def roi_description(roi_mask_path, roi_labels, roi) -> str:
    """One line saying which ROI a compression uses."""
    if roi_mask_path is not None:
        labels = "any non-zero label" if roi_labels is None else "labels " + ",".join(map(str, roi_labels))
        return f"ROI from {roi_mask_path} ({labels})"
    if roi == "auto":
        return "ROI from the network's U-Net (--roi auto)"
    return "no ROI mask given: every pixel is NROI (bound --nroi-max-error); give --roi-mask FILE or --roi auto"


def has_default_model(input_path: str | os.PathLike) -> bool:
    """Whether a shipped network exists for this input's kind (for the --roi auto default)."""
    from medroi.io import detect_format

    try:
        from medroi.networks.runtime import resolve_model_path  # no torch import at this point

        return resolve_model_path(None, detect_format(input_path)).is_file()
    except Exception:
        return False


def auto_roi(network, image, input_path, *, roi_source=None, roi_margin=None) -> tuple[np.ndarray, dict]:
    """The ``--roi auto`` mask and its report. ``roi_source``: a co-registered image of the
    same shape (a BRATS case's FLAIR) whose ROI is used instead. When the model's prediction
    is implausible (:func:`medroi.autoroi.postprocess.check`) the fallback is the whole image
    as ROI, i.e. kept within ``--roi-max-error`` (lossless by default)."""
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
        return np.ones(image.shape, bool), report
    return result.mask, report


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


def compress_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    roi_mask_path: str | os.PathLike | None = None,
    roi_labels: Sequence[int] | None = None,
    roi: str = "mask",
    roi_max_error: int = 0,
    nroi_max_error: int | None = 4,
    entropy: str = "ans",
    mode: str = "residual",
    model: str | None = None,
    predictor: str = "classical",
    force: bool = False,
    frame: int | None = None,
    quantize_step: float | None = None,
    progress: bool = False,
    roi_margin: str | None = None,
    roi_source: str | os.PathLike | None = None,
) -> dict:
    """Read a medical image, compress it to ``output_path`` (.mroi, atomic) and report.

    ``roi``: "mask" (use ``roi_mask_path`` or no ROI), "auto" (the network's U-Net, see
    :func:`auto_roi`; ``roi_margin`` e.g. "3mm", default the model's), "none".
    ``mode``: "residual" (guaranteed bounds) or "paper" (autoencoder latent + mask only).
    ``predictor``: "classical" (default: it measured smaller files on BRATS, see
    benchmarks/results/codecs.md) or "network" (the autoencoder's reconstruction as one more
    reference). ``model`` names the network (default: by input kind) for whatever uses it.
    """
    from medroi import codec
    from medroi.io import read_image, read_mask

    start = time.perf_counter()
    output_path = check_output(output_path, force)
    image = read_image(input_path, frame=frame, quantize_step=quantize_step)
    if predictor not in ("classical", "network"):
        raise InvalidImageError(f"predictor must be 'classical' or 'network', got {predictor!r}")
    network = None
    if roi == "auto" or mode == "paper" or predictor == "network":
        network = load_network(model, image.format)
    if roi_mask_path is not None:
        roi_mask = read_mask(roi_mask_path, roi_labels, shape=image.shape)
    elif roi == "auto":
        roi_mask, roi_auto = auto_roi(network, image, input_path, roi_source=roi_source, roi_margin=roi_margin)
    else:
        roi_mask = None
    if roi != "auto" or roi_mask_path is not None:
        roi_auto = None
    if mode == "paper":  # the paper's pipeline: latent + mask only, lossy everywhere
        roi_max_error = nroi_max_error = None
        predictor = "network"
    elif mode != "residual":
        raise InvalidImageError(f"mode must be 'residual' or 'paper', got {mode!r}")
    metadata = {"format": image.format, "name": Path(str(input_path)).name, "source": image.metadata}
    if roi_auto is not None:
        metadata["roi_auto"] = roi_auto
    bar = _SliceBar("compress", progress)
    try:
        data = codec.compress(
            image.array,
            roi_mask,
            roi_max_error=roi_max_error,
            nroi_max_error=nroi_max_error,
            predictor=network if predictor == "network" else None,
            entropy=entropy,
            metadata=metadata,
            progress=bar,
        )
    finally:
        bar.close()
    atomic_write_bytes(output_path, data, force=force)
    raw_bytes = int(image.array.nbytes)
    input_bytes = _input_bytes(input_path)
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
        "roi_fraction": float(np.mean(roi_mask)) if roi_mask is not None else 0.0,
        "roi": roi_description(roi_mask_path, roi_labels, roi),
        "predictor": "classical" if predictor == "classical" else network.identity["name"],
        "roi_model": network.identity["name"] if roi == "auto" and roi_mask_path is None else None,
        "roi_auto": roi_auto,
        "entropy": entropy,
        "seconds": time.perf_counter() - start,
    }


def _input_bytes(path: str | os.PathLike) -> int:
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
) -> dict:
    """Decode a .mroi file and write the image in the format its extension names."""
    from medroi import codec
    from medroi.io import MedicalImage, write_image

    start = time.perf_counter()
    check_output(output_path, force)
    if mask_out is not None:
        check_output(mask_out, force)
    data = _read_mroi(input_path)
    header = codec.read_header(data)
    predictor = _decoding_predictor(header, model)
    bar = _SliceBar("decompress", progress)
    try:
        decoded = codec.decompress(data, predictor=predictor, progress=bar)
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
    if header["roi_max_error"] != 0 or header["nroi_max_error"] != 0:
        cr = decoded.array.nbytes / len(data)
        lossy = {"ratio": round(cr, 2), "method": "MEDROI"}
    written = write_image(image, output_path, force=force, lossy=lossy)
    if mask_out is not None:
        mask_image = MedicalImage(decoded.roi_mask.astype(decoded.array.dtype), image.format, image.metadata)
        write_image(mask_image, mask_out, force=force)
    return {
        "input": str(input_path),
        "output": str(written),
        "mask_out": None if mask_out is None else str(mask_out),
        "shape": list(decoded.array.shape),
        "dtype": decoded.array.dtype.name,
        "roi_max_error": header["roi_max_error"],
        "nroi_max_error": header["nroi_max_error"],
        "lossless": lossy is None,
        "seconds": time.perf_counter() - start,
    }


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
        "slices": len(header["chunk_bytes"]),
        "slice_axis": header["slice_axis"],
        "source_format": metadata.get("format"),
        "source_name": metadata.get("name"),
        "roi_max_error": header["roi_max_error"],
        "nroi_max_error": header["nroi_max_error"],
        "roi_fraction": header.get("roi_fraction"),
        "roi_auto": metadata.get("roi_auto"),
        "entropy": header["entropy"],
        "predictor": header["predictor"],
        "gop": header["gop"],
        "raw_bytes": raw,
        "cr": raw / header["file_bytes"],
        "medroi_version": header.get("medroi_version"),
    }


def evaluate_files(
    original_path: str | os.PathLike,
    reconstruction_path: str | os.PathLike,
    *,
    roi_mask_path: str | os.PathLike | None = None,
    roi_labels: Sequence[int] | None = None,
) -> dict:
    """Compare a reconstruction with its original: PSNR (overall/ROI/NROI), SSIM, max errors."""
    from medroi import metrics
    from medroi.io import read_image, read_mask

    original = read_image(original_path).array
    reconstruction = _read_any(reconstruction_path)
    if reconstruction.shape != original.shape:
        raise InvalidImageError(
            f"shapes differ: original {original.shape}, reconstruction {reconstruction.shape}; "
            "compare an image with its own reconstruction"
        )
    roi = None if roi_mask_path is None else read_mask(roi_mask_path, roi_labels, shape=original.shape)
    report = metrics.region_report(original, reconstruction, roi)
    report.update({"original": str(original_path), "reconstruction": str(reconstruction_path)})
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


def _read_any(path: str | os.PathLike) -> np.ndarray:
    """Pixels of an image file, or of a .mroi file (decoded)."""
    if str(path).endswith(".mroi"):
        from medroi import codec

        data = _read_mroi(path)
        return codec.decompress(data, predictor=_decoding_predictor(codec.read_header(data))).array
    from medroi.io import read_image

    return read_image(path).array


__all__ = ["compress_file", "decompress_file", "file_info", "evaluate_files", "MedroiError"]
