"""The codec with a network predictor: AE-only NROI, the paper's pipeline, auto ROI, and
refusal to decode with other weights. Uses small random-weight networks (the property
under test is the codec's, not the network's quality)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import medroi.codec as codec  # noqa: E402
from medroi.errors import MedroiError, ModelMismatchError  # noqa: E402


def _export(tmp_path, seed: int):
    from medroi.networks import JointNet
    from medroi.networks.runtime import load_model

    torch.manual_seed(seed)
    net = JointNet(seg_channels=(4, 8), seg_strides=(2,), ae_channels=(4, 8, 8, 8)).eval()
    path = tmp_path / f"net{seed}.ts"
    torch.jit.script(net).save(str(path))
    return load_model(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nets")
    return _export(folder, 0), _export(folder, 1)


def _phantom(shape=(40, 36, 3)):
    rng = np.random.default_rng(0)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids[:2]))
    image = (800 * np.exp(-3 * radius**2) + rng.normal(0, 20, shape)).clip(0, 4000).astype(np.int16)
    return image, radius < 0.4


@pytest.mark.parametrize("bounds", [(0, 0), (0, 4), (1, None), (0, None)])
def test_network_predictor_holds_bounds(models, bounds):
    predictor = models[0]
    image, roi = _phantom()
    data = codec.compress(image, roi, *bounds, predictor=predictor)
    assert codec.read_header(data)["predictor"]["sha256"] == predictor.model.sha256
    decoded = codec.decompress(data, predictor=predictor)
    error = np.abs(decoded.array.astype(int) - image.astype(int))
    assert error[roi].max() <= bounds[0]
    if bounds[1] is not None:
        assert error[~roi].max() <= bounds[1]
    assert np.array_equal(decoded.roi_mask, roi)


def test_paper_mode_is_latent_and_mask_only(models):
    predictor = models[0]
    image, roi = _phantom((48, 40))
    paper = codec.compress(image, roi, None, None, predictor=predictor)
    guaranteed = codec.compress(image, roi, 0, 0, predictor=predictor)
    assert len(paper) < len(guaranteed)
    decoded = codec.decompress(paper, predictor=predictor)
    assert decoded.array.shape == image.shape and np.array_equal(decoded.roi_mask, roi)


def test_other_weights_are_refused(models):
    image, roi = _phantom()
    data = codec.compress(image, roi, 0, 4, predictor=models[0])
    with pytest.raises(ModelMismatchError):
        codec.decompress(data, predictor=models[1])
    with pytest.raises(ModelMismatchError):
        codec.decompress(data)  # no model at all


def test_auto_roi_gives_a_mask_of_the_image_shape(models):
    image, _ = _phantom()
    mask = models[0].segment_volume(image)
    assert mask.shape == image.shape and mask.dtype == bool


def test_network_files_with_damage_still_raise(models):
    image, roi = _phantom()
    data = bytearray(codec.compress(image, roi, 0, 4, predictor=models[0]))
    data[-10] ^= 0x40
    with pytest.raises(MedroiError):
        codec.decompress(bytes(data), predictor=models[0])
