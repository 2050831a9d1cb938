"""MONAI bundles: metadata, property ids, 2-iteration training (1 and 2 processes), export.

Synthetic data is made on the fly (monai.data.synthetic) in a temporary folder; tiny channel
widths keep each run to seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("monai")
from monai.bundle import ConfigParser, ConfigWorkflow, verify_metadata  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUNDLES = REPO / "bundles"
BRATS = BUNDLES / "brats_mri_roi_compression"
XRAY = BUNDLES / "xray_roi_compression"
ALL_BUNDLES = [b for b in (BRATS, XRAY) if b.is_dir()]
SCHEMA = REPO.parent / "shared" / "monai" / "meta_schema_20240725.json"
TINY = {"network_def#seg_channels": [4, 8, 16, 16], "network_def#seg_strides": [2, 2, 2],
        "network_def#ae_channels": [4, 8, 8, 8]}


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    """data_root/brats/<case>/<case>_{flair,t1,t1ce,t2,seg}.nii.gz, 3 cases (1 train, 2 val)."""
    import nibabel as nib
    from monai.data.synthetic import create_test_image_3d

    root = tmp_path_factory.mktemp("data")
    for i in range(3):
        case = f"case{i}"
        folder = root / "brats" / case
        folder.mkdir(parents=True)
        img, seg = create_test_image_3d(40, 40, 12, num_objs=3, rad_max=5, rad_min=3, noise_max=0.2,
                                        num_seg_classes=1, random_state=np.random.RandomState(i))
        for m in ("flair", "t1", "t1ce", "t2"):
            nib.save(nib.Nifti1Image((img * 1000).astype(np.int16), np.eye(4)), str(folder / f"{case}_{m}.nii.gz"))
        nib.save(nib.Nifti1Image((seg > 0).astype(np.uint8) * 2, np.eye(4)), str(folder / f"{case}_seg.nii.gz"))
    return root


def _overrides(out: Path, data: Path, **extra) -> dict:
    return {"bundle_root": str(out), "dataset_dir": str(data),
            "transforms_file": str(REPO / "transforms" / "brats.yaml"), "epochs": 1, "val_interval": 1,
            "crop_size": 32, "samples_per_volume": 2, "train#trainer#epoch_length": 2, **TINY, **extra}


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda b: b.name)
def test_metadata_verifies(bundle):
    if not SCHEMA.is_file():
        pytest.skip(f"no local schema at {SCHEMA}")
    verify_metadata(meta_file=str(bundle / "configs" / "metadata.json"), filepath=str(SCHEMA))
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert meta["network_data_format"]["inputs"]["image"]["num_channels"] == 1
    assert meta["autoencoder_data_format"]["inputs"]["image"]["num_channels"] == 2
    assert meta["autoencoder_data_format"]["outputs"]["latent"]["num_channels"] == 1
    for name in ("LICENSE", "configs/train.yaml", "configs/evaluate.yaml", "configs/inference.yaml",
                 "configs/multi_gpu_train.yaml", "configs/logging.conf", "docs/README.md", "docs/data_license.txt"):
        assert (bundle / name).is_file(), name


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda b: b.name)
def test_verify_net_in_out_passes_with_the_documented_arguments(bundle, monkeypatch):
    """`python -m monai.bundle verify_net_in_out network_def --meta_file ... --config_file ...`
    (the same function, in-process: it raises on a shape, channel or dtype mismatch)."""
    from monai.bundle import verify_net_in_out

    monkeypatch.chdir(bundle)
    verify_net_in_out(net_id="network_def", meta_file="configs/metadata.json", config_file="configs/inference.yaml")


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda b: b.name)
def test_metadata_pins_released_versions(bundle):
    from packaging.version import Version

    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    pins = {"monai": meta["monai_version"], "torch": meta["pytorch_version"], "numpy": meta["numpy_version"],
            **meta["required_packages_version"]}
    assert "medroi" not in pins  # not on any package index: the bundle ships inside medroi itself
    for name, pin in pins.items():
        version = Version(pin)
        assert not (version.local or version.is_devrelease or version.is_prerelease), f"{name} {pin}"
    assert meta["version"] in meta["changelog"]


def test_brats_train_two_iterations_then_ae_stage_and_evaluate(synthetic_root, tmp_path):
    meta = str(BRATS / "configs" / "metadata.json")
    train = str(BRATS / "configs" / "train.yaml")
    wf = ConfigWorkflow(workflow_type="train", config_file=train, meta_file=meta,
                        **_overrides(tmp_path, synthetic_root, stage="seg"))
    wf.initialize()
    assert wf.check_properties() == []
    wf.run()
    trainer = wf.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == 2
    weights = tmp_path / "models" / "model.pt"
    assert weights.is_file()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert any(k.startswith("seg.") for k in state) and any(k.startswith("ae.") for k in state)
    wf.finalize()

    # stage 2 (the paper): U-Net frozen, autoencoder trained from the stage-1 weights
    wf2 = ConfigWorkflow(workflow_type="train", config_file=train, meta_file=meta,
                         **_overrides(tmp_path, synthetic_root, stage="ae", pretrained=str(weights)))
    wf2.initialize()
    net = wf2.parser.get_parsed_content("network")
    seg_before = {k: v.clone() for k, v in net.seg.state_dict().items()}
    ae_before = {k: v.clone() for k, v in net.ae.state_dict().items()}
    wf2.run()
    assert all(torch.equal(seg_before[k], v) for k, v in net.seg.state_dict().items())
    assert any(not torch.equal(ae_before[k], v) for k, v in net.ae.state_dict().items())
    wf2.finalize()

    # evaluate.yaml: loads models/model.pt and reports Dice / PSNR on the validation cases
    ev = ConfigWorkflow(workflow_type="train", config_file=[train, str(BRATS / "configs" / "evaluate.yaml")],
                        meta_file=meta, **_overrides(tmp_path, synthetic_root, stage="ae"))
    ev.initialize()
    ev.run()
    metrics = ev.parser.get_parsed_content("validate#evaluator").state.metrics
    assert 0.0 <= metrics["val_mean_dice"] <= 1.0
    assert np.isfinite(metrics["val_psnr_roi"]) and np.isfinite(metrics["val_psnr_nroi"])
    ev.finalize()


def test_brats_multi_gpu_train_two_processes(synthetic_root, tmp_path):
    # the checkout first: the venv may hold an editable install of another checkout
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(BRATS), str(REPO)]), OMP_NUM_THREADS="1")
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
            "-m", "monai.bundle", "run",
            "--config_file", "['configs/train.yaml','configs/multi_gpu_train.yaml']",
            "--meta_file", "configs/metadata.json", "--logging_file", "configs/logging.conf"]
    for key, value in _overrides(tmp_path, synthetic_root).items():
        args += [f"--{key}", json.dumps(value) if isinstance(value, list) else str(value)]
    proc = subprocess.run(args, cwd=BRATS, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "models" / "model.pt").is_file()
    state = torch.load(tmp_path / "models" / "model.pt", map_location="cpu", weights_only=True)
    assert not any(k.startswith("module.") for k in state)  # DDP unwrapped


def test_inference_config_properties(tmp_path):
    wf = ConfigWorkflow(workflow_type="infer", config_file=str(BRATS / "configs" / "inference.yaml"),
                        meta_file=str(BRATS / "configs" / "metadata.json"), bundle_root=str(tmp_path),
                        dataset_dir=str(tmp_path))
    wf.initialize()
    assert wf.check_properties() == []


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda b: b.name)
def test_shipped_weights_load_and_export_matches_runtime(bundle):
    from medroi.networks.joint import JointNet
    from medroi.networks.runtime import load_model

    weights, exported = bundle / "models" / "model.pt", bundle / "models" / "model.ts"
    if not weights.is_file() or not exported.is_file():
        pytest.skip(f"{bundle.name} has no shipped weights yet")
    assert weights.stat().st_size <= 20 * 2**20
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.yaml"))
    net = parser.get_parsed_content("network_def")
    assert isinstance(net, JointNet)  # RoiJointNet: JointNet's weights and exported methods, forward = ROI logits
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.eval()
    predictor = load_model(str(bundle), "nifti")
    assert predictor.identity["name"] == bundle.name
    rng = np.random.default_rng(0)
    unit = rng.random((2, 64, 64), dtype=np.float32)
    mask = (unit > 0.7).astype(np.float32)
    with torch.no_grad():
        x, m = torch.from_numpy(unit)[:, None], torch.from_numpy(mask)[:, None]
        eager_prob = net.segment(x)[:, 0].numpy()
        eager_latent = net.encode(x, m)[:, 0].numpy()
        eager_recon = net.decode(net.encode(x, m))[:, 0].numpy()
    np.testing.assert_allclose(predictor.model.segment(unit), eager_prob, atol=1e-5)
    latent = predictor.model.encode(unit, mask)
    assert latent.dtype == np.int32 and latent.shape == (2, 8, 8)
    # rounding can flip a value sitting at .5 between implementations; allow a tiny fraction
    assert np.mean(latent != eager_latent) < 0.01
    np.testing.assert_allclose(predictor.model.decode(eager_latent), eager_recon, atol=1e-5)


@pytest.fixture(scope="module")
def synthetic_xray_root(tmp_path_factory) -> Path:
    """data_root/xray/{index.csv, images/x<i>.png, masks/x<i>_lungs.png}, 6 images (2 train, 4 val)."""
    from monai.data.synthetic import create_test_image_2d
    from PIL import Image

    root = tmp_path_factory.mktemp("xdata")
    (root / "xray" / "images").mkdir(parents=True)
    (root / "xray" / "masks").mkdir()
    rows = ["image,source,license"]
    for i in range(6):
        img, seg = create_test_image_2d(72, 64, num_objs=3, rad_max=10, rad_min=5, noise_max=0.2,
                                        num_seg_classes=1, random_state=np.random.RandomState(i))
        Image.fromarray((img / max(img.max(), 1e-6) * 255).astype(np.uint8)).save(root / "xray" / "images" / f"x{i}.png")
        Image.fromarray((seg > 0).astype(np.uint8)).save(root / "xray" / "masks" / f"x{i}_lungs.png")
        rows.append(f"images/x{i}.png,synthetic,none")
    (root / "xray" / "index.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.skipif(not XRAY.is_dir(), reason="no X-ray bundle")
def test_xray_train_two_iterations(synthetic_xray_root, tmp_path):
    overrides = _overrides(tmp_path, synthetic_xray_root, transforms_file=str(REPO / "transforms" / "xray.yaml"))
    wf = ConfigWorkflow(workflow_type="train", config_file=str(XRAY / "configs" / "train.yaml"),
                        meta_file=str(XRAY / "configs" / "metadata.json"), **overrides)
    wf.initialize()
    assert wf.check_properties() == []
    wf.run()
    assert wf.parser.get_parsed_content("train#trainer").state.iteration == 2
    metrics = wf.parser.get_parsed_content("validate#evaluator").state.metrics
    assert 0.0 <= metrics["val_mean_dice"] <= 1.0
    assert (tmp_path / "models" / "model.pt").is_file()
    wf.finalize()
    inf = ConfigWorkflow(workflow_type="infer", config_file=str(XRAY / "configs" / "inference.yaml"),
                         meta_file=str(XRAY / "configs" / "metadata.json"), bundle_root=str(tmp_path),
                         dataset_dir=str(synthetic_xray_root / "xray" / "images"))
    inf.initialize()
    assert inf.check_properties() == []


# the inference workflows on real inputs (the ROI `medroi compress --roi auto` stores): test_bundle_inference.py


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda b: b.name)
def test_exported_model_carries_the_bundles_current_metadata(bundle):
    """models/model.ts embeds configs/metadata.json (as ckpt_export does): after a metadata
    change the export must be redone (roi_ship), or the shipped file describes another model."""
    extra = {"metadata.json": ""}
    torch.jit.load(str(bundle / "models" / "model.ts"), map_location="cpu", _extra_files=extra)
    assert json.loads(extra["metadata.json"]) == json.loads((bundle / "configs" / "metadata.json").read_text())
