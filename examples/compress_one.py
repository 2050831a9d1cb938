"""Compress one NIfTI volume with its tumor lossless and the rest within 4, decode it, and
check the guarantee. Run: python examples/compress_one.py [image.nii.gz seg.nii.gz]

Without arguments it uses nibabel's own test volume and a bright-tissue stand-in ROI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from medroi import codec, metrics
from medroi.io import read_image, read_mask

if len(sys.argv) == 3:
    image = read_image(sys.argv[1])
    roi = read_mask(sys.argv[2], labels=(1, 2, 4), shape=image.shape)  # BRATS whole tumor
else:
    import nibabel

    image = read_image(Path(nibabel.__file__).parent / "tests" / "data" / "anatomical.nii")
    roi = image.array >= np.percentile(image.array, 90)

data = codec.compress(image.array, roi, roi_max_error=0, nroi_max_error=4,
                      metadata={"format": image.format, "source": image.metadata})
decoded = codec.decompress(data)
report = metrics.region_report(image.array, decoded.array, roi)
print(f"CR {image.array.nbytes / len(data):.2f} ({image.array.nbytes} -> {len(data)} bytes)")
print(f"max |error| ROI {report['max_error_roi']} (bound 0), NROI {report['max_error_nroi']} (bound 4)")
print(f"PSNR NROI {report['psnr_nroi']:.2f} dB (MAX = dynamic range {report['dynamic_range']:.0f})")
assert report["max_error_roi"] == 0 and report["max_error_nroi"] <= 4
