"""Networks: the joint U-Net + autoencoder (imports torch and monai; not for the codec path).

The codec loads the exported TorchScript with :mod:`medroi.networks.runtime` (torch only).
Import ``medroi.networks.runtime`` directly there: this package ``__init__`` does not import
the MONAI-based modules until they are asked for.
"""

from __future__ import annotations

__all__ = ["JointNet", "ConvAutoEncoder"]


def __getattr__(name: str):
    if name in ("JointNet", "ConvAutoEncoder"):
        from medroi.networks import joint

        return getattr(joint, name)
    raise AttributeError(name)
