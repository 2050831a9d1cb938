"""Load a volume through medroi's MONAI pipeline (native ints -> float [0, 1], 256 x 256
slices) and undo it bit-exactly. Run: python examples/transforms_round_trip.py [image.nii.gz seg.nii.gz]

Without arguments it writes a small synthetic volume and label to a temporary folder."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from monai.bundle import ConfigParser

root = Path(__file__).resolve().parents[1]
if len(sys.argv) == 3:
    image_path, label_path = sys.argv[1], sys.argv[2]
else:
    folder = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 900, (240, 240, 12)).astype(np.int16)
    label = np.zeros(volume.shape, np.uint8)
    label[100:140, 90:130, 3:9] = 2
    image_path, label_path = folder / "image.nii.gz", folder / "seg.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), image_path)
    nib.save(nib.Nifti1Image(label, np.eye(4)), label_path)

parser = ConfigParser()
parser.read_config(str(root / "transforms" / "brats.yaml"))
preprocess = parser.get_parsed_content("preprocess")
item = preprocess({"image": str(image_path), "label": str(label_path)})
print("network input:", tuple(item["image"].shape), item["image"].dtype, "ROI voxels:", int(item["label"].sum()))
restored = preprocess.inverse(item)["image"]
original = np.asanyarray(nib.load(image_path).dataobj)
assert np.array_equal(np.asarray(restored[0]), original), "the inverse must be bit-exact"
print("inverse is bit-exact:", tuple(restored.shape[1:]), restored.dtype)
