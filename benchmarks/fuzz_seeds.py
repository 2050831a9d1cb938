"""Valid .mroi seed files for the fuzzers, built at run time with the public API.

Seeds come from real data (a BRATS FLAIR volume with its tumor mask, a chest X-ray with
its lung mask, a CT and an MR DICOM series), cropped so that one decode takes tens of
milliseconds: lossless, bounded, Huffman, and with the shipped network as a reference
when torch and the bundles are present. Built with ``medroi.codec.compress`` every run,
so a new format version or probability model is fuzzed as it is. Without the data folder,
small synthetic images stand in (``Seed.source`` says which).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MEDROI_DATA", REPO.parent / "shared" / "data"))


@dataclass(frozen=True)
class Seed:
    """One valid file: its name, bytes, and the network it needs to decode (or None)."""

    name: str
    data: bytes
    model: str | None = None
    source: str = "real"


def _centre_crop(image: np.ndarray, mask: np.ndarray, size: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A crop of ``size`` centred on the ROI's top edge (half ROI, half not: both regions coded)."""
    if mask.any():
        index = np.nonzero(mask)
        centre = [int(np.min(index[0]))] + [int(np.median(ix)) for ix in index[1:]]
    else:
        centre = [n // 2 for n in image.shape]
    box = []
    for c, n, s in zip(centre, image.shape, size):
        start = min(max(c - s // 2, 0), max(n - s, 0))
        box.append(slice(start, start + s))
    return np.ascontiguousarray(image[tuple(box)]), np.ascontiguousarray(mask[tuple(box)])


def _brats() -> tuple[np.ndarray, np.ndarray] | None:
    cases = sorted((DATA / "brats").glob("*/*_flair.nii.gz"))
    if not cases:
        return None
    from medroi.io import read_image, read_mask

    image = read_image(cases[0]).array
    seg = read_mask(str(cases[0]).replace("_flair", "_seg"), (1, 2, 4), shape=image.shape)
    return image, seg


def _xray() -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """The first X-ray with a lung mask, its mask, and a point on the left lung edge."""
    for mask_path in sorted((DATA / "xray" / "masks").glob("*_lungs.png")):
        image_path = DATA / "xray" / "images" / mask_path.name.replace("_lungs.png", ".png")
        if image_path.is_file():
            from medroi.io import read_image, read_mask

            image = read_image(image_path, colour="gray").array  # one channel, as the lungs model sees it
            mask = read_mask(mask_path, shape=image.shape)
            rows, cols = np.nonzero(mask)
            r = int(np.median(rows))
            return image, mask, (r, int(np.nonzero(mask[r])[0].min()))
    return None


def _dicom_series(name: str) -> np.ndarray | None:
    folder = DATA / "dicom" / name
    if not folder.is_dir():
        return None
    from medroi.io import read_image

    return read_image(folder).array


def _synthetic(shape: tuple[int, ...], dtype: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    grid = np.indices(shape).sum(axis=0) * 7
    image = (grid + rng.integers(0, 40, shape)).astype(dtype)
    mask = np.zeros(shape, bool)
    mask[tuple(slice(n // 4, 3 * n // 4) for n in shape[:2])] = True
    return image, mask


def _network(name: str):
    """The shipped network ``name`` as a codec predictor, or None (no torch or no bundle)."""
    try:
        from medroi.networks.runtime import load_model

        return load_model(name)
    except Exception:  # torch missing or bundle absent: the network seeds are skipped
        return None


def build_seeds(network: bool = True, tiny: bool = False) -> list[Seed]:
    """Every seed file; ``network=False`` skips the network ones (no torch import);
    ``tiny`` crops everything to about 12 x 12 (coverage-guided fuzzing wants many runs per second)."""
    from medroi import codec

    seeds: list[Seed] = []
    rng = np.random.default_rng(0)

    def add(name, image, mask, bounds, source="real", **options):
        if tiny:  # the ROI edge sits in the middle of every crop: keep a window around it
            box = tuple(slice(max(0, n // 2 - 6), n // 2 + 6) for n in image.shape[:2])
            image = np.ascontiguousarray(image[box])
            mask = None if mask is None else np.ascontiguousarray(mask[box])
        data = codec.compress(image, mask, *bounds, **options)
        model = options["predictor"].model.name if options.get("predictor") is not None else None
        seeds.append(Seed(name, data, model, source))

    brats = _brats()
    if brats is not None:
        image, seg = _centre_crop(*brats, (48, 48, 6))
        add("brats_lossless", image, seg, (0, 0))
        add("brats_0_4", image, seg, (0, 4))
        add("brats_2_8_gop2", image, seg, (2, 8), gop=2)
        small, small_mask = _centre_crop(*brats, (16, 16, 2))
        add("brats_huffman", small, small_mask, (0, 3), entropy="huffman")
        edge = brats[0][:40, :40, :3]  # skull-stripped corner: constant slices
        add("brats_constant", edge, np.zeros(edge.shape, bool), (0, 0))
    else:
        image, mask = _synthetic((48, 48, 6), "int16", rng)
        add("synthetic_volume", image, mask, (0, 4), source="synthetic")
    xray = _xray()
    if xray is not None:
        full, mask, (r, c) = xray
        image = np.ascontiguousarray(full[r - 32 : r + 32, max(c - 32, 0) : max(c - 32, 0) + 64])
        roi = np.ascontiguousarray(mask[r - 32 : r + 32, max(c - 32, 0) : max(c - 32, 0) + 64])
        add("xray_lossless", image, roi, (0, 0))
        add("xray_0_4", image, roi, (0, 4))
    else:
        image, mask = _synthetic((64, 64), "uint8", rng)
        add("synthetic_2d", image, mask, (0, 4), source="synthetic")
    # format 4: a 2D image whose neighbour differences sit on a comb (exact-difference contexts)
    yy, xx = np.mgrid[:96, :112]
    field = 90 + 30 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + rng.normal(0, 3.5, (96, 112))
    comb = (3 * np.round(field / 3) + (xx // 40 + yy // 48) % 3).astype(np.uint8)
    add("comb_2d_med_exact", comb, None, (0, 0), source="synthetic")
    ct = _dicom_series("ct_head_GE_dcm_qa_ct")
    if ct is not None:
        crop = np.ascontiguousarray(ct[232:280, 232:280, 10:15])
        add("ct_series_lossless", crop, None, (0, 0))
        # format 5: a lossless 2D slice is coded by context mixing where that is smallest
        add("ct_2d_mix", np.ascontiguousarray(ct[208:304, 208:304, 12]), None, (0, 0))
    mr = _dicom_series("mr_t1_sag_HFS_dcm_qa_decubitus")
    if mr is not None:
        crop = np.ascontiguousarray(mr[100:140, 100:140, 15:19])
        roi = np.zeros(crop.shape, bool)
        roi[10:30, 10:30] = True
        add("mr_series_0_3", crop, roi, (0, 3))
    if network:
        from medroi.networks.runtime import BRATS_MODEL, XRAY_MODEL

        brats_net = _network(BRATS_MODEL)
        if brats_net is not None and brats is not None:
            image, seg = _centre_crop(*brats, (32, 32, 3))
            add("brats_network_0_4", image, seg, (0, 4), predictor=brats_net)
        xray_net = _network(XRAY_MODEL)
        if xray_net is not None and xray is not None:
            full, mask, (r, c) = xray
            image = np.ascontiguousarray(full[r - 24 : r + 24, c : c + 40])
            roi = np.ascontiguousarray(mask[r - 24 : r + 24, c : c + 40])
            add("xray_network_0_2", image, roi, (0, 2), predictor=xray_net)
            add("xray_network_ae_only", image, roi, (0, None), predictor=xray_net)
    return seeds
