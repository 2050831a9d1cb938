"""Choose the U-Net probability threshold on the TRAIN split (FLAIR volumes; no validation data).

python scripts/train_threshold.py CHECKPOINT
"""
import os
from pathlib import Path
import sys, json, torch, numpy as np
torch.set_num_threads(1)
from medroi.networks.joint import JointNet
from medroi.networks.training import brats_eval_volumes, brats_cases, load_weights
net = JointNet(); load_weights(net, sys.argv[1]); net.eval()
train_cases, _ = brats_cases(os.environ.get("MEDROI_BRATS", "../../../shared/data/brats"))
ths = np.array([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95])
res = []
with torch.no_grad():
    for name, unit, roi in brats_eval_volumes(train_cases, "flair"):
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(unit, -1, 0)))[:, None].float()
        p = torch.cat([net.segment(x[s:s+16]) for s in range(0, len(x), 16)])[:, 0].numpy()
        p = np.moveaxis(p, 0, -1)
        d = [2 * np.logical_and(p > t, roi).sum() / ((p > t).sum() + roi.sum()) for t in ths]
        res.append(d); print(name, np.round(d, 4), flush=True)
m = np.mean(res, 0)
print("mean", dict(zip(ths.tolist(), np.round(m, 4).tolist())), "best", ths[m.argmax()])
