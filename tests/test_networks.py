"""JointNet: shapes, quantization, TorchScript parity."""

from __future__ import annotations

import pytest
import torch

from medroi.networks.joint import JointNet, count_parameters


def small_net(**kw) -> JointNet:
    return JointNet(seg_channels=(4, 8, 16, 16), ae_channels=(4, 8, 8, 8), **kw)


@pytest.fixture(scope="module")
def net() -> JointNet:
    torch.manual_seed(0)
    return JointNet().eval()


def test_default_shapes_and_bottleneck_at_256(net):
    x = torch.rand(2, 1, 256, 256)
    logits, recon, latent = net(x)
    assert logits.shape == (2, 1, 256, 256)
    assert recon.shape == (2, 1, 256, 256)
    assert latent.shape == (2, 1, 32, 32)  # the paper's 32 x 32 x 1 bottleneck
    assert float(recon.min()) >= 0.0 and float(recon.max()) <= 1.0
    prob = net.segment(x)
    assert prob.shape == (2, 1, 256, 256) and float(prob.min()) >= 0 and float(prob.max()) <= 1
    code = net.encode(x, prob)
    assert code.dtype == torch.int32 and code.shape == (2, 1, 32, 32)
    assert int(code.abs().max()) <= net.latent_max
    assert net.decode(code).shape == (2, 1, 256, 256)


def test_default_is_small(net):
    n = count_parameters(net)
    assert n < 1_000_000
    assert n * 4 < 20 * 2**20


def test_any_multiple_of_8_and_rejects_others():
    net = small_net().eval()
    x = torch.rand(1, 1, 64, 96)
    assert net.encode(x, torch.zeros_like(x)).shape == (1, 1, 8, 12)
    with pytest.raises(ValueError):
        net.segment(torch.rand(1, 1, 60, 64))


def test_quantization_modes():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 32)
    for mode in ("noise", "ste"):
        net = small_net(quantization=mode)
        net.train()
        _, _, latent = net(x)
        if mode == "noise":
            assert not torch.equal(latent, torch.round(latent))
        else:
            assert torch.equal(latent, torch.round(latent))
            latent.sum().backward()  # straight-through: gradient reaches the encoder
            assert net.ae.encoder[0][0].weight.grad is not None
        net.eval()
        _, _, latent = net(x)
        assert torch.equal(latent, torch.round(latent))
    with pytest.raises(ValueError):
        JointNet(quantization="bogus")


def test_eval_forward_matches_encode_decode_with_predicted_prob():
    torch.manual_seed(1)
    net = small_net().eval()
    x = torch.rand(2, 1, 64, 64)
    logits, recon, latent = net(x)
    code = net.encode(x, torch.sigmoid(logits))
    assert torch.equal(code.float(), latent)
    assert torch.allclose(net.decode(code), recon)


def test_torchscript_matches_eager():
    torch.manual_seed(2)
    net = small_net().eval()
    scripted = torch.jit.script(net)
    x = torch.rand(2, 1, 64, 64)
    m = (x > 0.5).float()
    assert torch.allclose(scripted.segment(x), net.segment(x), atol=1e-6)
    assert torch.equal(scripted.encode(x, m), net.encode(x, m))
    code = net.encode(x, m)
    assert torch.allclose(scripted.decode(code), net.decode(code), atol=1e-6)
    for a, b in zip(scripted(x), net(x)):
        assert torch.allclose(a, b, atol=1e-6)
