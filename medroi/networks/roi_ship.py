"""Put a trained ROI U-Net into a bundle: the JointNet's ``seg.*`` weights are replaced, the
autoencoder's are kept bit for bit; ``models/model.pt`` and the TorchScript ``models/model.ts``
(with the bundle's metadata and inference config as extra files, as ``ckpt_export`` writes
them) are rewritten atomically.

``python -m medroi.networks.roi_ship BUNDLE UNET.pt``
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Sequence

import torch


def ship(bundle: Path, unet_state: dict) -> None:
    from monai.bundle import ConfigParser

    from medroi.networks.joint import JointNet

    models = bundle / "models"
    state = torch.load(models / "model.pt", map_location="cpu", weights_only=True)
    new = {k: v for k, v in state.items() if k.startswith("ae.")}  # the autoencoder as it is
    new.update({f"seg.{k}": v for k, v in unet_state.items()})
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.yaml"))
    net = parser.get_parsed_content("network_def")
    if not isinstance(net, JointNet):
        raise SystemExit("inference.yaml#network_def is not a JointNet")
    net.load_state_dict(new)  # strict: the U-Net must match network_def (seg_norm: batch)
    net.eval()
    # keep the exported inference config; refresh the metadata from configs/metadata.json
    extra = {"inference.json": "", "metadata.json": ""}
    torch.jit.load(str(models / "model.ts"), map_location="cpu", _extra_files=extra)
    extra["metadata.json"] = json.dumps(json.loads((bundle / "configs" / "metadata.json").read_text()))
    tmp_pt, tmp_ts = models / ".model.pt.tmp", models / ".model.ts.tmp"
    torch.save(new, tmp_pt)
    torch.jit.script(net).save(str(tmp_ts), _extra_files=extra)
    os.replace(tmp_pt, models / "model.pt")
    os.replace(tmp_ts, models / "model.ts")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="replace a bundle's U-Net weights (autoencoder kept)")
    ap.add_argument("bundle")
    ap.add_argument("unet", help="state dict of the U-Net alone (medroi.networks.roi_cv run_final/unet.pt)")
    args = ap.parse_args(argv)
    ship(Path(args.bundle), torch.load(args.unet, map_location="cpu", weights_only=True))


if __name__ == "__main__":
    main()
