"""The network predictor is not offered on the command line (it measured larger files)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from medroi.cli import main


def test_cli_refuses_the_network_predictor_with_a_reason(tmp_path):
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 251).save(tmp_path / "a.png")
    with pytest.raises(SystemExit) as exc:
        main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.mroi"), "--predictor", "network"])
    assert "no longer offered" in str(exc.value) and "network_predictor.md" in str(exc.value)
    assert not (tmp_path / "a.mroi").exists()
    assert main(["compress", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.mroi"), "--predictor", "classical",
                 "--roi", "none"]) == 0
