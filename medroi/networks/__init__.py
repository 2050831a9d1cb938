"""Networks: the joint U-Net + autoencoder (imports torch and monai; not for the codec path).

The codec loads the exported TorchScript with :mod:`medroi.networks.runtime` (torch only).
This package ``__init__`` imports nothing heavy: ``JointNet`` and the submodules are loaded
when first asked for.
"""

from __future__ import annotations

import importlib

__all__ = ["JointNet", "RoiJointNet", "ConvAutoEncoder"]

_SUBMODULES = ("joint", "training", "runtime")


def __getattr__(name: str):
    if name in ("JointNet", "RoiJointNet", "ConvAutoEncoder"):
        return getattr(importlib.import_module("medroi.networks.joint"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"medroi.networks.{name}")
    raise AttributeError(f"module 'medroi.networks' has no attribute {name!r}")
