"""Compress a BRATS-style folder tree with 2 worker processes, then restore it.
Run: python examples/archive.py DATA_DIR OUT_DIR   (e.g. ../shared/data/brats /tmp/archive)"""

from __future__ import annotations

import sys

from medroi import batch

data_dir, out_dir = sys.argv[1], sys.argv[2]
summary = batch.compress_tree(data_dir, out_dir, roi_max_error=0, nroi_max_error=4, workers=2)
print({key: summary[key] for key in ("files", "ok", "skipped", "failed", "cr")})
restored = batch.decompress_tree(out_dir, out_dir + "_restored", workers=2)
print({key: restored[key] for key in ("files", "ok", "failed")})
