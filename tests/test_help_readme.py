"""The command line's --help says what README.md says."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from medroi.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _help(command: str, option: str) -> str:
    (action,) = [a for a in _subparsers()[command]._actions if option in a.option_strings]
    return " ".join((action.help or "").split())


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return " ".join(text[start:end].split())


def test_every_option_the_readme_names_exists():
    if not README.is_file():
        pytest.skip("no README (not a source checkout)")
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", _section("Command line") + _section("Whole archives")))
    known = {o for p in [build_parser(), *_subparsers().values()] for a in p._actions for o in a.option_strings}
    assert options and options <= known, options - known


def test_defaults_in_help_match_the_readme():
    if not README.is_file():
        pytest.skip("no README (not a source checkout)")
    readme = _section("Command line")
    assert "--roi-max-error N` (default 0 = bit-exact ROI)" in readme and "default 0" in _help("compress", "--roi-max-error")
    nroi = "4 when an ROI is known, lossless when none is"
    assert f"(default {nroi};" in readme and nroi in _help("compress", "--nroi-max-error")
    # the ROI default: the mask if given, else the U-Net of a shipped model that fits the input
    assert "the default when no mask is given and a shipped model fits the input, by modality, body part" in readme
    roi_help = _help("compress", "--roi")
    assert "default: the mask if given, else a shipped model that fits the input (by modality, body part" in roi_help
    # the network predictor is refused (benchmarks/results/network_predictor.md): README and help say so
    assert "network predictor is not offered" in _section("Safe defaults")
    assert "the only one offered" in _help("compress", "--predictor")
    assert "(default ans" in readme and "default ans" in _help("compress", "--entropy")
    assert "`medroi demo [--out DIR]" in readme and "temporary folder" in _help("demo", "--out")
    for ext in (".nrrd", ".mha", ".mhd", ".nii.gz", ".dcm"):
        assert ext in readme and ext in _help("decompress", "--output")
