"""Already-compressed inputs are not inflated: the .mroi keeps the input file when that is smaller."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import require_data
from medroi import api, codec
from medroi.cli import main
from medroi.errors import CorruptFileError
from medroi.io import read_image

OVERHEAD = 2048  # bytes a kept file may add to the input (header + ROI mask)


@pytest.fixture
def jpeg(tmp_path):
    """A real-looking JPEG: smooth anatomy-like gray image with noise, quality 85."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:384, 0:320]
    image = 120 + 80 * np.sin(x / 37.0) * np.cos(y / 53.0) + rng.normal(0, 6, (384, 320))
    path = tmp_path / "chest.jpg"
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=85)
    return path


def test_lossless_jpeg_keeps_the_file_and_gives_it_back(jpeg, tmp_path):
    result = api.compress_file(jpeg, tmp_path / "a.mroi", roi_max_error=0, nroi_max_error=0)
    size = (tmp_path / "a.mroi").stat().st_size
    assert result["stored"] != "pixels" and result["compressed_bytes"] == size
    assert size <= jpeg.stat().st_size + OVERHEAD
    assert result["cr_vs_input_file"] == pytest.approx(jpeg.stat().st_size / size)
    # pixels identical to what compress read, through the codec and through a PNG
    data = (tmp_path / "a.mroi").read_bytes()
    original = read_image(jpeg).array
    assert np.array_equal(codec.decompress(data).array, original)
    assert np.array_equal(codec.decompress_slice(data, 0)[0], original)
    out = api.decompress_file(tmp_path / "a.mroi", tmp_path / "a.png")
    assert out["lossless"] and not out["original_file_bytes_restored"]
    assert np.array_equal(read_image(tmp_path / "a.png").array, original)
    # the same format gives the user's file back byte for byte
    out = api.decompress_file(tmp_path / "a.mroi", tmp_path / "back.jpg")
    assert out["original_file_bytes_restored"]
    assert (tmp_path / "back.jpg").read_bytes() == jpeg.read_bytes()
    info = api.file_info(tmp_path / "a.mroi")
    assert info["kept_source"]["format"] == "jpeg" and info["slices"] == 1
    assert info["cr_vs_input_file"] == pytest.approx(result["cr_vs_input_file"])


def test_kept_file_keeps_the_roi_mask(jpeg, tmp_path):
    mask = np.zeros((384, 320), np.uint8)
    mask[100:200, 50:150] = 1
    Image.fromarray(mask).save(tmp_path / "roi.png")
    api.compress_file(jpeg, tmp_path / "m.mroi", roi_mask_path=tmp_path / "roi.png", roi_max_error=0,
                      nroi_max_error=0)
    decoded = codec.decompress((tmp_path / "m.mroi").read_bytes())
    assert np.array_equal(decoded.roi_mask, mask.astype(bool))


def test_pixels_are_coded_when_that_is_smaller(tmp_path):
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:256, 0:256]
    smooth = 120 + 80 * np.sin(x / 37.0) * np.cos(y / 53.0) + rng.normal(0, 3, (256, 256))
    Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8)).save(tmp_path / "ramp.png")  # deflate is poor here
    result = api.compress_file(tmp_path / "ramp.png", tmp_path / "r.mroi", nroi_max_error=0)
    assert result["stored"] == "pixels" and result["cr_vs_input_file"] > 1
    assert "kept_source" not in codec.read_header((tmp_path / "r.mroi").read_bytes())
    assert api.file_info(tmp_path / "r.mroi")["cr_vs_input_file"] == pytest.approx(result["cr_vs_input_file"])


def test_damaged_kept_file_is_refused(jpeg, tmp_path):
    api.compress_file(jpeg, tmp_path / "a.mroi", roi_max_error=0, nroi_max_error=0)
    data = bytearray((tmp_path / "a.mroi").read_bytes())
    data[-600] ^= 0xFF  # inside the kept JPEG (the mask chunk is the short tail)
    with pytest.raises(CorruptFileError):
        codec.decompress(bytes(data))
    with pytest.raises(CorruptFileError):
        codec.decompress(bytes(data[: len(data) // 2]))


def test_cli_says_the_file_was_kept(jpeg, tmp_path, capsys):
    assert main(["compress", str(jpeg), "-o", str(tmp_path / "c.mroi"), "--nroi-max-error", "0", "--roi", "none",
                 "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["cr_vs_input_file"] < 1 and "keeps the file itself" in captured.err


def test_lossy_jpeg2000_dicom_is_kept_byte_exact(tmp_path):
    source = require_data("dicom", "pydicom_data_singles", "RG1_J2KI.dcm")
    shutil.copy(source, tmp_path / "rg1.dcm")
    result = api.compress_file(tmp_path / "rg1.dcm", tmp_path / "rg1.mroi", roi="none", nroi_max_error=0)
    assert result["compressed_bytes"] <= source.stat().st_size + OVERHEAD
    api.decompress_file(tmp_path / "rg1.mroi", tmp_path / "back.dcm")
    assert (tmp_path / "back.dcm").read_bytes() == source.read_bytes()
    assert np.array_equal(codec.decompress((tmp_path / "rg1.mroi").read_bytes()).array, read_image(source).array)


def test_real_jpeg_xray_lossless_is_not_inflated(tmp_path):
    source = require_data("xray", "images", "gbcxr_030.jpg")
    result = api.compress_file(source, tmp_path / "x.mroi", nroi_max_error=0, roi="none")
    assert result["compressed_bytes"] <= source.stat().st_size + OVERHEAD
    decoded = codec.decompress((tmp_path / "x.mroi").read_bytes()).array
    assert np.array_equal(decoded, read_image(source).array)


def test_kept_header_with_missing_fields_is_refused(jpeg, tmp_path):
    from medroi.codec import container

    api.compress_file(jpeg, tmp_path / "a.mroi", nroi_max_error=0, roi="none")
    parsed = container.unpack((tmp_path / "a.mroi").read_bytes())
    chunks = [parsed.chunk(0), parsed.chunk(1)]
    damaged = [{k: v for k, v in parsed.header.items() if k != drop} for drop in ("shape", "entropy", "gop")]
    damaged.append({**parsed.header, "kept_source": {"format": "jpeg"}})
    damaged.append({**parsed.header, "nroi_max_error": 4})  # a kept file is exact by construction
    for header in damaged:
        with pytest.raises(CorruptFileError):
            codec.read_header(container.pack(header, chunks))
        with pytest.raises(CorruptFileError):
            codec.decompress(container.pack(header, chunks))


def test_tree_gives_a_kept_jpeg_back_under_its_own_name(jpeg, tmp_path):
    from medroi import batch

    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(jpeg, tree / "chest.jpg")
    assert batch.compress_tree(tree, tmp_path / "out", workers=1, progress=False)["failed"] == 0
    assert batch.decompress_tree(tmp_path / "out", tmp_path / "back", workers=1, progress=False)["failed"] == 0
    assert (tmp_path / "back" / "chest.jpg").read_bytes() == jpeg.read_bytes()
    rows = json.loads((tmp_path / "back" / "manifest.json").read_text())["files"]
    assert "byte-exact" in rows[0]["note"]


def _lung_like_mask(shape=(384, 320)) -> np.ndarray:
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    left = ((y - 190) / 120.0) ** 2 + ((x - 95) / 55.0) ** 2 < 1
    right = ((y - 190) / 120.0) ** 2 + ((x - 225) / 55.0) ** 2 < 1
    return left | right


def test_kept_mask_is_context_coded_and_smaller_than_zlib(jpeg, tmp_path):
    import zlib

    from medroi.codec import container

    mask = _lung_like_mask()
    Image.fromarray(mask.astype(np.uint8)).save(tmp_path / "lungs.png")
    api.compress_file(jpeg, tmp_path / "k.mroi", roi_mask_path=tmp_path / "lungs.png", roi_max_error=0,
                      nroi_max_error=0)
    parsed = container.unpack((tmp_path / "k.mroi").read_bytes())
    assert parsed.header["kept_source"]["mask_coding"] == "context" and parsed.version == 4
    zlib_bytes = len(zlib.compress(np.packbits(mask, axis=None).tobytes(), 9))
    assert len(parsed.chunk(1)) * 2 < zlib_bytes  # the codec's mask coder, not deflate of packed bits
    assert np.array_equal(codec.decompress((tmp_path / "k.mroi").read_bytes()).roi_mask, mask)


def test_kept_file_written_before_mask_coding_still_decodes(jpeg, tmp_path):
    """Files from medroi before the context-coded mask (no mask_coding, chunk 1 = zlib of the
    packed bits) decode with their mask; an unknown coding is refused."""
    import zlib

    from medroi.codec import container

    mask = _lung_like_mask()
    Image.fromarray(mask.astype(np.uint8)).save(tmp_path / "lungs.png")
    api.compress_file(jpeg, tmp_path / "k.mroi", roi_mask_path=tmp_path / "lungs.png", roi_max_error=0,
                      nroi_max_error=0)
    parsed = container.unpack((tmp_path / "k.mroi").read_bytes())
    header = json.loads(json.dumps(parsed.header))
    del header["kept_source"]["mask_coding"]
    old = container.pack(header, [parsed.chunk(0), zlib.compress(np.packbits(mask, axis=None).tobytes(), 9)])
    decoded = codec.decompress(old)
    assert np.array_equal(decoded.roi_mask, mask) and np.array_equal(decoded.array, read_image(jpeg).array)
    header["kept_source"]["mask_coding"] = "bogus"
    with pytest.raises(CorruptFileError, match="mask coding"):
        codec.decompress(container.pack(header, [parsed.chunk(0), parsed.chunk(1)]))
    header["kept_source"]["mask_coding"] = "context"  # a context-coded header over a zlib chunk
    with pytest.raises(CorruptFileError):
        codec.decompress(container.pack(header, [parsed.chunk(0), zlib.compress(b"\x00" * 100)], version=4))
    with pytest.raises(CorruptFileError, match="mask coding"):  # format 3 never held a context-coded mask
        codec.decompress(container.pack(header, [parsed.chunk(0), parsed.chunk(1)]))


def test_kept_volume_mask_round_trips_along_its_slice_axis(tmp_path):
    from medroi.codec import container, kept

    rng = np.random.default_rng(3)
    volume = rng.integers(0, 400, size=(20, 24, 7)).astype(np.int16)
    mask = np.zeros(volume.shape, bool)
    mask[5:12, 8:20, 2:6] = True
    header = {"shape": list(volume.shape), "dtype": "int16", "slice_axis": 2, "metadata": {}}
    data = kept.pack(header, b"not really a nifti", "v.nii.gz", "nifti", volume, mask, (0, 0))
    parsed = container.unpack(data)
    assert np.array_equal(kept._decode_mask(parsed.chunk(1), volume.shape, 2), mask)
