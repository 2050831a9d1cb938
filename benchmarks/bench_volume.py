"""One BRATS volume through the codec in this process: bytes, encode and decode CPU seconds.

    python benchmarks/bench_volume.py [case] [modality]     # default Brats18_2013_11_1 flair

ROI = the case's seg (labels > 0); bounds (0, 0) and (0, 4); the kernels are compiled on two
slices first. To compare two revisions, run it with PYTHONPATH set to the other checkout.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

import medroi.codec as codec

DATA_ROOT = Path(os.environ.get("MEDROI_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> int:
    case = sys.argv[1] if len(sys.argv) > 1 else "Brats18_2013_11_1"
    modality = sys.argv[2] if len(sys.argv) > 2 else "flair"
    folders = [p / case for p in sorted(DATA_ROOT.glob("brats*")) if (p / case).is_dir()]
    if not folders:
        raise SystemExit(f"no BRATS case {case} under {DATA_ROOT}")
    volume = np.asarray(nib.load(folders[0] / f"{case}_{modality}.nii.gz").dataobj)
    roi = np.asarray(nib.load(folders[0] / f"{case}_seg.nii.gz").dataobj) > 0
    codec.decompress(codec.compress(volume[:, :, 70:72], roi[:, :, 70:72], 0, 0))
    for bounds in [(0, 0), (0, 4)]:
        start = time.process_time()
        data = codec.compress(volume, roi, *bounds)
        middle = time.process_time()
        error = np.abs(codec.decompress(data).array.astype(np.int64) - volume)
        end = time.process_time()
        assert error[roi].max(initial=0) == 0 and error.max() <= bounds[1]
        print(f"{case} {modality} {bounds}: {len(data):,} B, encode {middle - start:.2f} s, "
              f"decode {end - middle:.2f} s (CPU)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
