"""Fine-tune the U-Net of models/model.pt (autoencoder untouched) with medroi.networks.training.fit:
full 256x256 slices, FLAIR and non-tumor slices over-sampled, validation Dice every N iterations.

python scripts/finetune_seg.py ITERS BATCH LR CROP(0=full) FLAIR_WEIGHT NONTUMOR_WEIGHT EVAL_EVERY TAG [INIT]
Env: MEDROI_BRATS (data dir), MEDROI_CACHE (.npz slice cache), MEDROI_FT_OUT (output folder, /tmp/ft).
"""
import os
from pathlib import Path
import json, sys, time, torch, numpy as np
torch.set_num_threads(1)
from pathlib import Path
from medroi.networks.joint import JointNet
from medroi.networks.training import (SliceDataset, fit, evaluate_volumes, brats_eval_volumes, brats_cases,
                                      load_weights)
iters, bs, lr, crop, fw, nw = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
every = int(sys.argv[7]); tag = sys.argv[8]
init = sys.argv[9] if len(sys.argv) > 9 else str(Path(__file__).resolve().parents[1] / "models" / "model.pt")
out = Path(os.environ.get("MEDROI_FT_OUT", "/tmp/ft")) / tag; out.mkdir(parents=True, exist_ok=True)
def log(m): print(time.strftime("%H:%M:%S"), m, flush=True)
train_cases, val_cases = brats_cases(os.environ.get("MEDROI_BRATS", "../../../shared/data/brats"))
cache = os.environ.get("MEDROI_CACHE", "/tmp/medroi_cache/brats_train.npz")
data = dict(np.load(cache))
ds = SliceDataset(data, crop=crop or None)
mod = data["modality"]; has = data["roi"].reshape(len(mod), -1).any(1)
w = np.where(mod == 0, fw, 1.0) * np.where(has, 1.0, nw)
log(f"{len(ds)} slices, flair share {w[mod==0].sum()/w.sum():.2f}, non-tumor share {w[~has].sum()/w.sum():.2f}")
net = JointNet(); load_weights(net, init)
ae0 = {k: v.clone() for k, v in net.ae.state_dict().items()}
best = {"dice": -1}
def cb(it):
    t = time.time()
    m = evaluate_volumes(net, brats_eval_volumes(val_cases, "flair"))
    d = m["mean"]["dice"]
    log(f"VAL it {it}: dice {[round(r['dice'],4) for r in m['items']]} mean {d:.4f} ({time.time()-t:.0f} s)")
    torch.save(net.state_dict(), out / f"it{it}.pt")
    if d > best["dice"]:
        best.update(dice=d, it=it, metrics=m); torch.save(net.state_dict(), out / "best.pt")
    (out / "log.json").write_text(json.dumps(best, indent=1))
cb(0)
fit(net, ds, "seg", iters, batch_size=bs, lr=lr, log=log, checkpoint=out / "last.pt", checkpoint_every=50,
    sample_weights=w, callback=cb, callback_every=every)
assert all(torch.equal(v, net.ae.state_dict()[k]) for k, v in ae0.items()), "AE changed"
log(f"BEST it {best['it']} dice {best['dice']:.4f}")
