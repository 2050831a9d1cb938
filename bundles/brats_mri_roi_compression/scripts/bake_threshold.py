"""Bake a probability threshold t into the U-Net's last bias (logit - logit(t) > 0 <=> prob > t, so the
codec's fixed 0.5 cut equals prob > t), check the autoencoder is unchanged, evaluate on validation once.

python scripts/bake_threshold.py CHECKPOINT T OUT.pt
"""
import os
from pathlib import Path
import sys, json, math, torch
torch.set_num_threads(1)
from medroi.networks.joint import JointNet
from medroi.networks.training import evaluate_volumes, brats_eval_volumes, brats_cases, load_weights
src, t, dst = sys.argv[1], float(sys.argv[2]), sys.argv[3]
s = torch.load(src, map_location="cpu", weights_only=True)
ref = torch.load(str(Path(__file__).resolve().parents[1] / "models" / "model.pt"), weights_only=True)
assert all(torch.equal(s[k], ref[k]) for k in ref if k.startswith("ae.")), "AE weights differ"
k = "seg.model.2.1.conv.unit0.conv.bias"
s[k] = s[k] - math.log(t / (1 - t))
torch.save(s, dst)
net = JointNet(); load_weights(net, dst)
_, val = brats_cases(os.environ.get("MEDROI_BRATS", "../../../shared/data/brats"))
m = evaluate_volumes(net, brats_eval_volumes(val, "flair"))
print(json.dumps(m, indent=1))
