"""Format 6's deflated header: used where it pays (mixing files, large headers), nowhere else."""

from __future__ import annotations

import numpy as np

from medroi.codec import compress, container, decompress, read_header


def _volume() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (np.cumsum(rng.integers(-2, 3, (3, 20, 24)), axis=2) + 100).astype(np.int16)


def test_a_large_header_is_deflated_and_a_small_one_is_left_as_format_3():
    """A DICOM source's datasets (base64 in the header) made a 35-slice MR series' file 6.3 MB
    of header; a NIfTI volume's header stays plain, readable by medroi 0.3."""
    volume = _volume()
    datasets = ["AAAAB3NzaC1yc2EAAAADAQABAAABAQ" * 80 + f"{k:04d}" for k in range(volume.shape[0])]
    big = compress(volume, nroi_max_error=0, metadata={"source": {"datasets": datasets}})
    small = compress(volume, nroi_max_error=0, metadata={"name": "x.nii.gz"})
    assert container.unpack(big).version == 6 and container.unpack(small).version == 3
    assert len(big) < len(small) + 1000 < len(small) + sum(map(len, datasets))
    assert read_header(big)["metadata"]["source"]["datasets"] == datasets
    np.testing.assert_array_equal(decompress(big).array, volume)
    np.testing.assert_array_equal(decompress(small).array, volume)


def test_the_rule_is_the_header_size():
    def written(header: dict, version: int) -> int:
        return container.unpack(container.pack(header, [b"chunk"], version=version)).version

    header = {"metadata": {"note": "x" * (container.DEFLATE_HEADER_BYTES + 10)}}
    assert written(header, 3) == 6 and written(header, 4) == 6
    assert written({"metadata": {}}, 3) == 3 and written({"metadata": {}}, 4) == 4
    assert written({}, 6) == 6


def test_info_names_the_format_version(tmp_path):
    from medroi.api import file_info

    volume = _volume()
    for metadata, version in (({"name": "x.nii.gz"}, 3), ({"note": "y" * 5000}, 6)):
        path = tmp_path / f"v{version}.mroi"
        path.write_bytes(compress(volume, nroi_max_error=0, metadata=metadata))
        assert file_info(path)["format_version"] == version
        assert read_header(path.read_bytes())["format_version"] == version
