"""medroi.data: BRATS cases and X-rays with lung masks, fixed split, data root resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from medroi import data
from medroi.errors import InputNotFoundError, MedroiError

from conftest import require_data


def make_brats(root: Path, cases: list[str]) -> None:
    for case in cases:
        folder = root / "brats" / case
        folder.mkdir(parents=True)
        for part in ("flair", "t1", "t1ce", "t2", "seg"):
            (folder / f"{case}_{part}.nii.gz").write_bytes(b"")


def test_brats_split_is_sorted_and_deterministic(tmp_path: Path) -> None:
    make_brats(tmp_path, ["c", "a", "e", "b", "d"])
    everything = data.brats_cases(tmp_path)
    assert [item["case"] for item in everything] == ["a", "b", "c", "d", "e"]
    assert set(everything[0]) == {"case", "flair", "t1", "t1ce", "t2", "seg"}
    assert everything[0]["t1ce"] == str(tmp_path / "brats" / "a" / "a_t1ce.nii.gz")
    assert [item["case"] for item in data.brats_cases(tmp_path, split="train")] == ["a", "b", "c"]
    assert [item["case"] for item in data.brats_cases(tmp_path, split="val")] == ["d", "e"]
    assert [item["case"] for item in data.brats_cases(tmp_path, split="val", n_val=1)] == ["e"]


def test_brats_problems_raise(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="BRATS"):
        data.brats_cases(tmp_path)
    make_brats(tmp_path, ["a", "b"])
    with pytest.raises(MedroiError, match="split"):
        data.brats_cases(tmp_path, split="test")
    with pytest.raises(MedroiError, match="n_val"):
        data.brats_cases(tmp_path, split="train", n_val=2)
    (tmp_path / "brats" / "b" / "b_seg.nii.gz").unlink()
    with pytest.raises(InputNotFoundError, match="b_seg"):
        data.brats_cases(tmp_path)


def test_xray_cases_need_a_lung_mask(tmp_path: Path) -> None:
    xray = tmp_path / "xray"
    (xray / "images").mkdir(parents=True)
    (xray / "masks").mkdir()
    lines = ["image,source,masks"]
    for name in ("z1", "a1", "m1"):
        (xray / "images" / f"{name}.png").write_bytes(b"")
        lines.append(f"images/{name}.png,src,")
    for name in ("z1", "a1"):
        (xray / "masks" / f"{name}_lungs.png").write_bytes(b"")
    (xray / "masks" / "m1_heart.png").write_bytes(b"")
    (xray / "index.csv").write_text("\n".join(lines) + "\n")
    items = data.xray_cases(tmp_path)
    assert [item["name"] for item in items] == ["a1", "z1"]
    assert items[0] == {"name": "a1", "image": str(xray / "images/a1.png"), "mask": str(xray / "masks/a1_lungs.png")}
    assert [item["name"] for item in data.xray_cases(tmp_path, split="val", n_val=1)] == ["z1"]
    assert [item["name"] for item in data.xray_cases(tmp_path, structure="heart")] == ["m1"]
    with pytest.raises(InputNotFoundError):
        data.xray_cases(tmp_path, structure="lesion")


def test_data_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.default_data_root() == tmp_path
    assert data.resolve_data_root() == tmp_path
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(InputNotFoundError, match="MEDROI_DATA"):
        data.resolve_data_root()
    monkeypatch.delenv(data.DATA_ENV)
    assert data.default_data_root() == Path(data.__file__).resolve().parents[2] / "shared" / "data"


def test_real_data_listing() -> None:
    root = require_data("brats")
    cases = data.brats_cases(root.parent)
    assert len(cases) >= 3 and all(Path(item[k]).is_file() for item in cases for k in ("flair", "seg"))
    train, val = data.brats_cases(root.parent, split="train"), data.brats_cases(root.parent, split="val")
    assert not {c["case"] for c in train} & {c["case"] for c in val} and len(val) == 2
    require_data("xray", "index.csv")
    xrays = data.xray_cases(root.parent)
    assert xrays and all(Path(item["mask"]).is_file() and item["mask"].endswith("_lungs.png") for item in xrays)
