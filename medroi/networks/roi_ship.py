"""Put trained ROI U-Nets into a bundle: the JointNet's ``seg.*`` weights are replaced, the
autoencoder's are kept bit for bit; ``models/model.pt`` and the TorchScript ``models/model.ts``
(with the bundle's metadata and inference config as extra files, as ``ckpt_export`` writes
them) are rewritten atomically.

``python -m medroi.networks.roi_ship BUNDLE UNET.pt [UNET2.pt ...]``: several U-Nets make an
ensemble; ``inference.yaml#network_def`` must say as many ``seg_members``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Sequence

import torch


def seg_state(unet_states: Sequence[dict]) -> dict:
    """JointNet ``seg.*`` keys for one U-Net, ``seg.members.<i>.*`` for an ensemble."""
    if len(unet_states) == 1:
        return {f"seg.{k}": v for k, v in unet_states[0].items()}
    return {f"seg.members.{i}.{k}": v for i, state in enumerate(unet_states) for k, v in state.items()}


def ship(bundle: Path, unet_states: Sequence[dict]) -> None:
    from monai.bundle import ConfigParser

    from medroi.networks.joint import JointNet

    models = bundle / "models"
    state = torch.load(models / "model.pt", map_location="cpu", weights_only=True)
    new = {k: v for k, v in state.items() if k.startswith("ae.")}  # the autoencoder as it is
    new.update(seg_state(unet_states))
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.yaml"))
    net = parser.get_parsed_content("network_def")
    if not isinstance(net, JointNet):
        raise SystemExit("inference.yaml#network_def is not a JointNet")
    net.load_state_dict(new)  # strict: the U-Nets must match network_def (seg_norm, seg_members)
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
    ap.add_argument("unet", nargs="+", help="state dicts of U-Nets alone (medroi.networks.roi_cv run_final/unet.pt); "
                                            "several: an ensemble")
    args = ap.parse_args(argv)
    ship(Path(args.bundle), [torch.load(u, map_location="cpu", weights_only=True) for u in args.unet])


if __name__ == "__main__":
    main()
