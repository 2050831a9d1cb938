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
    code = net.encode(x, (torch.sigmoid(logits) > 0.5).float())
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


def test_runtime_loads_scripted_model_without_monai(tmp_path):
    import subprocess
    import sys

    import numpy as np

    torch.manual_seed(3)
    net = small_net().eval()
    path = tmp_path / "mymodel" / "models" / "model.ts"
    path.parent.mkdir(parents=True)
    torch.jit.script(net).save(str(path))
    code = (
        "import sys, numpy as np\n"
        "from medroi.networks.runtime import load_model\n"
        f"p = load_model({str(path.parent.parent)!r}, 'nifti')\n"
        "u = np.random.default_rng(0).random((3, 32, 40), dtype=np.float32)\n"
        "lat = p.model.encode(u, u > 0.5)\n"
        "rec = p.model.decode(lat)\n"
        "prob = p.model.segment(u)\n"
        "assert lat.dtype == np.int32 and lat.shape == (3, 4, 5), lat.shape\n"
        "assert rec.dtype == np.float32 and rec.shape == (3, 32, 40)\n"
        "assert prob.dtype == np.float32 and prob.shape == (3, 32, 40)\n"
        "vol = (u.transpose(1, 2, 0) * 900).astype(np.int16)[:30, :37]\n"
        "m = p.segment_volume(vol)\n"
        "assert m.dtype == bool and m.shape == vol.shape\n"
        "assert p.identity['name'] == 'mymodel' and len(p.identity['sha256']) == 64\n"
        "np.save(sys.argv[1], rec)\n"
        "print('monai' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "rec.npy")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"  # the codec path never imports monai
    u = np.random.default_rng(0).random((3, 32, 40), dtype=np.float32)
    x = torch.from_numpy(u)[:, None]
    with torch.no_grad():
        eager = net.decode(net.encode(x, (x > 0.5).float()))[:, 0].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "rec.npy"), eager, atol=1e-5)


def test_context_unet_reads_neighbouring_slices_and_repeats_a_lone_slice():
    torch.manual_seed(4)
    net = small_net(seg_context=1, seg_norm="batch").eval()
    assert net.seg_in_channels == 3
    x = torch.rand(2, 3, 32, 32)
    prob = net.segment(x)
    assert prob.shape == (2, 1, 32, 32)
    # a neighbour channel changes the probability: the U-Net does read it
    assert not torch.allclose(net.segment(torch.cat([x[:, :1], x[:, 1:2], torch.rand(2, 1, 32, 32)], 1)), prob)
    lone = x[:, 1:2]  # the bundle's slice-wise workflows: one channel = a slice with no neighbours
    assert torch.allclose(net.segment(lone), net.segment(lone.repeat(1, 3, 1, 1)), atol=1e-6)
    assert net(lone)[0].shape == (2, 1, 32, 32)
    with pytest.raises(ValueError):
        net.segment(torch.rand(2, 2, 32, 32))
    scripted = torch.jit.script(net)
    assert torch.allclose(scripted.segment(x), prob, atol=1e-6)
    assert torch.allclose(scripted.segment(lone), net.segment(lone), atol=1e-6)


def test_runtime_gives_a_context_model_each_slices_neighbours(tmp_path):
    import numpy as np

    from medroi.autoroi.postprocess import RoiPolicy
    from medroi.networks.runtime import RuntimePredictor, TorchScriptJointNet

    torch.manual_seed(5)
    net = small_net(seg_context=1, seg_norm="batch").eval()
    path = tmp_path / "ctx" / "models" / "model.ts"
    path.parent.mkdir(parents=True)
    torch.jit.script(net).save(str(path))
    predictor = RuntimePredictor(TorchScriptJointNet(path), batch_size=3,
                                 policy=RoiPolicy(input_size=32, context_slices=1, foreground="all"))
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 1000, size=(40, 40, 9)).astype(np.int16)
    prob = predictor.probability(vol)
    assert prob.shape == vol.shape

    def swapped(a: int, b: int) -> np.ndarray:  # same voxel values: the normalisation is unchanged
        out = vol.copy()
        out[..., [a, b]] = vol[..., [b, a]]
        return predictor.probability(out)

    # slice 2's input is slices 1-3: swapping 4 and 5 leaves it as it was, swapping 3 and 4 does not
    np.testing.assert_array_equal(swapped(4, 5)[..., 2], prob[..., 2])
    assert not np.allclose(swapped(3, 4)[..., 2], prob[..., 2])
    # across batch boundaries (batch 3) the neighbours are the volume's, not the batch's
    assert not np.allclose(swapped(3, 8)[..., 2], prob[..., 2])
    np.testing.assert_array_equal(swapped(0, 8)[..., 4], prob[..., 4])


def test_runtime_three_views_read_every_plane_and_skip_inputs_it_would_reject(tmp_path):
    """roi.json views 3: a volume's probability is the average over its three planes (so a
    change seen only through the coronal/sagittal planes' context moves it), and a volume the
    input check rejects (too much above the background) is refused without running the model."""
    import numpy as np

    from medroi.autoroi.postprocess import RoiPolicy
    from medroi.networks.runtime import RuntimePredictor, TorchScriptJointNet

    torch.manual_seed(6)
    net = small_net(seg_context=1, seg_norm="batch").eval()
    path = tmp_path / "mv" / "models" / "model.ts"
    path.parent.mkdir(parents=True)
    torch.jit.script(net).save(str(path))
    model = TorchScriptJointNet(path)
    one = RuntimePredictor(model, batch_size=4, policy=RoiPolicy(input_size=32, context_slices=1))
    three = RuntimePredictor(model, batch_size=4, policy=RoiPolicy(input_size=32, context_slices=1, views=3,
                                                                   max_foreground_fraction=0.5))
    rng = np.random.default_rng(1)
    vol = np.zeros((32, 32, 8), np.int16)
    vol[8:24, 8:24] = rng.integers(100, 1000, size=(16, 16, 8))  # 25 % above the background
    p1, p3 = one.probability(vol), three.probability(vol)
    assert p3.shape == vol.shape and not np.allclose(p1, p3)
    # axial slice 2 reads slices 1-3 only; the coronal and sagittal slices through it also hold 4, 5
    out = vol.copy()
    out[..., [4, 5]] = vol[..., [5, 4]]
    np.testing.assert_array_equal(one.probability(out)[..., 2], p1[..., 2])
    assert not np.allclose(three.probability(out)[..., 2], p3[..., 2])

    def refuse(*_):
        raise AssertionError("the model ran on an input the check rejects")

    three.model = type("Refusing", (), {"segment": staticmethod(refuse)})()
    full = rng.integers(100, 1000, size=(32, 32, 8)).astype(np.int16)  # nothing at the background
    result = three.auto_roi(full)
    assert not result.accepted and "training data" in result.reason
    with pytest.raises(AssertionError, match="the model ran"):
        three.auto_roi(vol)  # an input like the training data does reach the model


def test_ensemble_segments_with_the_members_mean_probability_and_scripts():
    from medroi.networks.joint import UNetEnsemble

    torch.manual_seed(4)
    net = small_net(seg_context=1, seg_norm="batch", seg_members=2).eval()
    assert isinstance(net.seg, UNetEnsemble) and len(net.seg.members) == 2
    assert all(k.startswith(("seg.members.0.", "seg.members.1.", "ae.")) for k in net.state_dict())
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        members = [torch.sigmoid(m(x)) for m in net.seg.members]
        assert not torch.allclose(members[0], members[1], atol=1e-3)  # two different U-Nets
        mean = (members[0] + members[1]) / 2
        assert torch.allclose(net.segment(x), mean, atol=1e-5)
        assert torch.allclose(torch.jit.script(net).segment(x), mean, atol=1e-5)
    # one member: the plain U-Net and its keys, as every bundle before 0.5.0 stores them
    assert not any(".members." in k for k in small_net().state_dict())
    with pytest.raises(ValueError, match="seg_members"):
        small_net(seg_members=0)
