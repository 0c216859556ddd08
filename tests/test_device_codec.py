"""The device codec is the twin of the host codec: the same numbers on real face crops (CPU device here)."""

import numpy as np
import pytest

from conftest import read_rgb, shared_path
from livefilter.align.host import Aligner
from livefilter.detect import create_detector
from livefilter.looks.pack import Look, Normalisation
from livefilter.translate.codec import CropCodec

torch = pytest.importorskip("torch")

from livefilter.translate.device_codec import DeviceConditioning, DeviceCropCodec  # noqa: E402

NORMS = [Normalisation(), Normalisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]


@pytest.fixture(scope="module")
def crops():
    """Aligned 128 px crops of the three faces in two photos (uint8 NHWC), as the pipeline makes them."""
    det, aligner = create_detector(), Aligner(128)
    out = []
    for name in ("img1.jpg", "couple.jpg"):
        img = read_rgb(shared_path("faces", "deepface_tests", name))
        faces = det.detect(img)
        out.append(aligner.warp(img, aligner.transforms(faces)))
    batch = np.concatenate(out)
    assert batch.shape == (3, 128, 128, 3) and batch.std() > 20  # real faces, not a flat picture
    return batch


@pytest.mark.parametrize("norm", NORMS, ids=["[-1, 1]", "imagenet"])
def test_encode_and_decode_give_the_host_codec_numbers(crops, norm):
    host = CropCodec(128, norm, max_batch=4)
    dev = DeviceCropCodec(128, norm, max_batch=4, device="cpu")
    want = host.encode(crops)
    for given in (torch.from_numpy(crops).permute(0, 3, 1, 2), torch.from_numpy(crops).permute(0, 3, 1, 2).float()):
        got = dev.encode(given)  # uint8 (the host path's upload) or FP32 (the device pipeline's crops)
        assert got.shape == (3, 3, 128, 128) and got.data_ptr() == dev.input.data_ptr()
        assert np.array_equal(got.numpy(), want)
    # a network's output: the input moved about, partly out of range (clipped), many values on .5
    y = want + np.random.default_rng(0).normal(0.0, 0.3, want.shape).astype(np.float32)
    y[:, :, :4] = np.float32(3.0)
    ref = host.decode(y)
    back = dev.decode(torch.from_numpy(y))
    assert back.dtype == torch.float32 and back.data_ptr() == dev.output.data_ptr()
    assert np.array_equal(back.permute(0, 2, 3, 1).numpy().astype(np.uint8), ref)
    assert (ref[:, :4] == 255).all() and 0 < (ref != crops).mean() < 1
    # round trip without a network: the crops themselves
    assert np.array_equal(dev.decode(dev.encode(torch.from_numpy(crops).permute(0, 3, 1, 2))).numpy(),
                          crops.transpose(0, 3, 1, 2))


def test_a_half_precision_input_is_normalised_in_fp32_then_cast(crops):
    norm = NORMS[0]
    dev = DeviceCropCodec(128, norm, max_batch=4, device="cpu", input_dtype=torch.float16)
    got = dev.encode(torch.from_numpy(crops).permute(0, 3, 1, 2).float())
    assert got.dtype == torch.float16
    want = torch.from_numpy(CropCodec(128, norm, 4).encode(crops)).half()
    assert torch.equal(got, want)


def test_the_codec_writes_into_a_given_network_input_and_refuses_too_many_faces(crops):
    engine_input = torch.zeros((2, 3, 128, 128))
    dev = DeviceCropCodec(128, NORMS[0], max_batch=2, device="cpu", input=engine_input)
    dev.encode(torch.from_numpy(crops[:2]).permute(0, 3, 1, 2))
    assert np.array_equal(engine_input.numpy(), CropCodec(128, NORMS[0], 2).encode(crops[:2]))
    with pytest.raises(ValueError, match="3 faces exceed the batch of 2"):
        dev.encode(torch.from_numpy(crops).permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r"network input \(4, 3, 128, 128\) is not the codec's \(2, 3, 128, 128\)"):
        DeviceCropCodec(128, NORMS[0], max_batch=2, device="cpu", input=torch.zeros((4, 3, 128, 128)))


def test_conditioning_stages_the_code_and_strengths_from_the_host_or_the_device(tmp_path):
    look = Look(name="coded", root=tmp_path, style_code=[0.25, -0.5, 1.0])
    style, strength = torch.full((4, 3), 9.0), torch.full((4, 1), 9.0)
    cond = DeviceConditioning(look, "cpu", style=style, strength=strength)
    cond.put(2, None, 0.5)  # the look's own code; one strength for every face
    assert style[:2].tolist() == [[0.25, -0.5, 1.0]] * 2 and strength[:2, 0].tolist() == [0.5, 0.5]
    assert (style[2:] == 9.0).all() and (strength[2:] == 9.0).all()  # rows past the batch untouched
    cond.put(3, torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.1, 0.2, 0.3]))  # staged on the device
    assert style[:3].tolist() == [[1.0, 2.0, 3.0]] * 3
    assert np.allclose(strength[:3, 0].numpy(), [0.1, 0.2, 0.3])
    flat = torch.zeros(4)  # an engine whose strength input is (N,)
    DeviceConditioning(look, "cpu", strength=flat).put(2, None, np.array([0.7, 0.2], np.float32))
    assert np.allclose(flat.numpy(), [0.7, 0.2, 0.0, 0.0])
