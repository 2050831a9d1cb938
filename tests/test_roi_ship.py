"""roi_ship: trained U-Nets go into a bundle; the autoencoder stays bit for bit."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

BRATS = Path(__file__).resolve().parents[1] / "bundles" / "brats_mri_roi_compression"


def _bundle_copy(tmp_path: Path, members: int) -> Path:
    """The BRATS bundle's configs and weights, its network_def set to ``members`` U-Nets."""
    bundle = tmp_path / "bundle"
    shutil.copytree(BRATS / "configs", bundle / "configs")
    shutil.copytree(BRATS / "models", bundle / "models")
    config = bundle / "configs" / "inference.yaml"
    lines = [line for line in config.read_text().splitlines(keepends=True) if not line.startswith("  seg_members:")]
    at = lines.index("  seg_context: 2\n") + 1
    config.write_text("".join(lines[:at] + [f"  seg_members: {members}\n"] + lines[at:]))
    return bundle


def _network_def(bundle: Path):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.yaml"))
    return parser.get_parsed_content("network_def", instantiate=True)


def test_two_unets_ship_as_an_ensemble_and_the_runtime_averages_them(tmp_path):
    from medroi.networks.roi_ship import main as roi_ship
    from medroi.networks.runtime import TorchScriptJointNet

    bundle = _bundle_copy(tmp_path, members=2)
    members = _network_def(bundle).seg.members
    paths, states = [], []
    for i, unet in enumerate(members):
        torch.manual_seed(10 + i)
        for p in unet.parameters():
            p.data.normal_(0, 0.05)
        paths.append(str(tmp_path / f"unet{i}.pt"))
        states.append({k: v.clone() for k, v in unet.state_dict().items()})
        torch.save(unet.state_dict(), paths[-1])
    before = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    roi_ship([str(bundle), *paths])

    after = torch.load(bundle / "models" / "model.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("ae."))
    for i, state in enumerate(states):
        assert all(torch.equal(after[f"seg.members.{i}.{k}"], v) for k, v in state.items())
    net = _network_def(bundle)
    net.load_state_dict(after)
    net.eval()
    x = torch.rand(2, 5, 48, 48)
    with torch.no_grad():
        mean = sum(torch.sigmoid(m(x)) for m in net.seg.members) / 2
    scripted = TorchScriptJointNet(bundle / "models" / "model.ts")
    np.testing.assert_allclose(scripted.segment(x.numpy()), mean[:, 0].numpy(), atol=1e-5)
    assert not list((bundle / "models").glob(".*.tmp"))  # nothing half-written left behind


def test_a_unet_count_that_does_not_match_the_bundle_is_refused(tmp_path):
    from medroi.networks.roi_ship import ship

    bundle = _bundle_copy(tmp_path, members=2)
    one = _network_def(bundle).seg.members[0].state_dict()
    stamp = (bundle / "models" / "model.ts").stat().st_mtime_ns
    with pytest.raises(RuntimeError):
        ship(bundle, [one])  # network_def has two members
    assert (bundle / "models" / "model.ts").stat().st_mtime_ns == stamp
