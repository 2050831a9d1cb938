"""The wheel holds the shipped networks, configs and demo sample; resources resolve from any folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUNDLE_NAMES = ("brats_mri_roi_compression", "xray_roi_compression")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built (no isolation, no network) from a copy of the package's sources."""
    pytest.importorskip("setuptools")
    if not (REPO / "setup.cfg").is_file():
        pytest.skip("not a source checkout")
    src = tmp_path_factory.mktemp("src")
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "eval", "*.pyc")
    for name in ("medroi", "bundles", "transforms"):
        shutil.copytree(REPO / name, src / name, symlinks=True, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    # build with this environment's setuptools when it can make wheels (>= 70.1, or `wheel`
    # installed: no network needed); else pip's isolated build fetches setuptools + wheel
    import importlib.util

    import setuptools
    from packaging.version import Version

    local = Version(setuptools.__version__) >= Version("70.1") or importlib.util.find_spec("wheel") is not None
    isolation = ["--no-build-isolation"] if local else []
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel_path,) = out.glob("medroi-*.whl")
    return wheel_path


def test_wheel_holds_networks_configs_transforms_and_sample(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for bundle in BUNDLE_NAMES:
        for part in ("models/model.ts", "models/model.pt", "configs/metadata.json", "configs/inference.yaml",
                     "configs/train.yaml", "docs/README.md", "LICENSE"):
            source = REPO / "bundles" / bundle / part
            assert f"medroi/_bundles/{bundle}/{part}" in names, part
            packed = zipfile.ZipFile(wheel).read(f"medroi/_bundles/{bundle}/{part}")
            assert packed == source.read_bytes(), f"{bundle}/{part} differs from bundles/"
    for name in ("brats", "xray"):
        assert f"medroi/_transforms/{name}.yaml" in names
    for name in ("brats_sample_flair.nii.gz", "brats_sample_seg.nii.gz", "README.md"):
        assert f"medroi/assets/{name}" in names
    assert not any("/scripts/" in n or "__pycache__" in n for n in names)


def test_package_links_point_at_the_checkout_sources():
    assert (REPO / "medroi" / "_bundles").resolve() == (REPO / "bundles").resolve()
    assert (REPO / "medroi" / "_transforms").resolve() == (REPO / "transforms").resolve()


def test_default_models_resolve_from_another_folder(tmp_path, monkeypatch):
    from medroi.networks.runtime import resolve_model_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDROI_BUNDLES", raising=False)
    assert resolve_model_path(None, "nifti").is_file()
    assert resolve_model_path(None, "png").parent.parent.name == "xray_roi_compression"


def test_environment_variable_overrides_the_shipped_bundles(tmp_path, monkeypatch):
    from medroi.errors import MedroiError
    from medroi.networks.runtime import resolve_model_path

    (tmp_path / "brats_mri_roi_compression" / "models").mkdir(parents=True)
    (tmp_path / "brats_mri_roi_compression" / "models" / "model.ts").write_bytes(b"x")
    monkeypatch.setenv("MEDROI_BUNDLES", str(tmp_path))
    assert resolve_model_path(None, "nifti") == tmp_path / "brats_mri_roi_compression" / "models" / "model.ts"
    with pytest.raises(MedroiError, match="MEDROI_BUNDLES"):
        resolve_model_path(None, "png")
