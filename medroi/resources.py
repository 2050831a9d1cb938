"""Files that ship inside the package, found with importlib.resources from any working directory.

``medroi/_bundles`` and ``medroi/_transforms`` are links to the checkout's ``bundles/`` and
``transforms/`` (where the networks are trained and documented); building a wheel copies
what they hold into the package, so a wheel, ``pip install .``, an editable install and a
plain checkout resolve the same names. ``medroi/assets`` holds the demo sample.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from medroi.errors import InputNotFoundError

__all__ = ["BUNDLES_ENV", "bundles_dir", "transforms_config", "asset_path"]

#: Environment variable naming a folder of bundles that overrides the shipped ones.
BUNDLES_ENV = "MEDROI_BUNDLES"


def _package_path(*parts: str) -> Path:
    """A path inside the installed ``medroi`` package (a real file system path)."""
    return Path(str(resources.files("medroi").joinpath(*parts)))


def bundles_dir() -> Path:
    """``$MEDROI_BUNDLES`` if set, else the bundles shipped in the package."""
    env = os.environ.get(BUNDLES_ENV)
    return Path(env) if env else _package_path("_bundles")


def transforms_config(name: str) -> Path:
    """The shipped pipeline config ``transforms/<name>.yaml`` (``brats`` or ``xray``)."""
    path = _package_path("_transforms", f"{name}.yaml")
    if not path.is_file():
        raise InputNotFoundError(f"no shipped transform config {name!r} (looked for {path}); use 'brats' or 'xray'")
    return path


def asset_path(name: str) -> Path:
    """A file shipped in ``medroi/assets`` (the demo sample)."""
    path = _package_path("assets", name)
    if not path.is_file():
        raise InputNotFoundError(f"shipped file {name!r} is missing from the medroi package ({path}); reinstall medroi")
    return path
