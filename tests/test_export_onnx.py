"""Checkpoint -> ONNX export on a small real generator: parity, FP16 report, dynamic batch, metadata,
safe checkpoint loading, and look packs the runtime accepts."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from exporters.onnx_export import (  # noqa: E402
    OPSET,
    export_onnx,
    load_student_checkpoint,
    load_student_into,
    onnx_metadata,
)
from livefilter.errors import LookError, ModelError  # noqa: E402

SIZE, STYLE = 32, 8


class TinyGenerator(nn.Module):
    """Convs with a residual, style-modulated (FiLM) and strength-mixed: the student's contract."""

    def __init__(self, style_dim: int = STYLE, ch: int = 8) -> None:
        super().__init__()
        self.inp = nn.Conv2d(3, ch, 3, padding=1)
        self.down = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
        self.body = nn.Conv2d(ch, ch, 3, padding=1)
        self.film = nn.Linear(style_dim, 2 * ch)
        self.out = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, image, style, strength):
        h = torch.relu(self.inp(image))
        d = torch.relu(self.down(h))
        gamma, beta = self.film(style).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        d = d + torch.relu(self.body(d)) * (1 + gamma) + beta
        h = h + nn.functional.interpolate(d, scale_factor=2.0, mode="nearest")
        residual = torch.tanh(self.out(h))
        return torch.clamp(image + strength.view(-1, 1, 1, 1) * residual, -1.0, 1.0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = TinyGenerator().eval()
    path = tmp_path_factory.mktemp("onnx") / "student.onnx"
    report = export_onnx(model, path, input_size=SIZE, style_dim=STYLE, look_name="tiny",
                         normalisation={"mean": [0.5] * 3, "std": [0.5] * 3})
    return model, path, report


def test_parity_with_torch_and_fp16_report(exported):
    _, path, report = exported
    assert path.is_file() and report.opset == OPSET == 17
    assert report.parity_max_abs < 1e-4
    assert report.batches_checked == [1, 2, 3, 4]
    assert np.isfinite(report.fp16_psnr_db) and report.fp16_psnr_db > 30
    assert report.fp16_safe == (report.fp16_psnr_db >= 40.0)
    assert report.simplified and report.simplifier == "onnxslim"
    assert len(report.onnx_sha256) == 64
    json.dumps(report.to_dict())  # goes into look.json metrics


def test_dynamic_batch_1_to_4_and_named_io(exported):
    import onnxruntime as ort

    model, path, _ = exported
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image", "style", "strength"]
    assert [o.name for o in sess.get_outputs()] == ["output"]
    assert all(isinstance(i.shape[0], str) for i in sess.get_inputs())  # symbolic batch axis
    g = torch.Generator().manual_seed(3)
    for n in (1, 2, 3, 4):
        x, s, k = torch.rand(n, 3, SIZE, SIZE, generator=g) * 2 - 1, torch.randn(n, STYLE, generator=g), torch.rand(n, 1, generator=g)
        got = sess.run(["output"], {"image": x.numpy(), "style": s.numpy(), "strength": k.numpy()})[0]
        with torch.no_grad():
            ref = model(x, s, k).numpy()
        assert got.shape == (n, 3, SIZE, SIZE) and np.abs(got - ref).max() < 1e-4


def test_metadata_is_written(exported):
    _, path, _ = exported
    meta = onnx_metadata(path)
    assert meta["livefilter.look"] == "tiny"
    assert meta["livefilter.input_size"] == str(SIZE) and meta["livefilter.style_dim"] == str(STYLE)
    assert json.loads(meta["livefilter.normalisation"]) == {"mean": [0.5] * 3, "std": [0.5] * 3}
    assert meta["livefilter.opset"] == "17"


def test_unexportable_model_is_one_line_model_error(tmp_path):
    class Bad(nn.Module):
        def forward(self, image, style, strength):
            return torch.linalg.svd(image.flatten(1))[0]  # no ONNX symbolic at opset 17

    with pytest.raises(ModelError) as e:
        export_onnx(Bad(), tmp_path / "bad.onnx", input_size=SIZE, style_dim=STYLE)
    assert "\n" not in str(e.value) and str(e.value).startswith("ONNX export failed")


def test_safetensors_checkpoint_roundtrip_and_distill_prefix(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    src = TinyGenerator()
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(plain))
    dst = load_student_into(TinyGenerator(), plain)
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k])
    # distillation checkpoints hold the student under model.S. plus optimiser/rng tensors and JSON meta
    distill = tmp_path / "student.safetensors"
    tensors = {f"model.S.{k}": v.contiguous() for k, v in src.state_dict().items()}
    tensors |= {"model.A.0.weight": torch.zeros(2), "optim.opt.0.exp_avg": torch.zeros(3), "rng.torch": torch.zeros(4)}
    save_file(tensors, str(distill), metadata={"livefilter": json.dumps({"meta": {"step": 7, "config": {"student": {}}}})})
    state, meta = load_student_checkpoint(distill)
    assert set(state) == set(src.state_dict()) and meta["step"] == 7


def test_plain_tensor_pt_is_accepted_but_pickled_objects_are_not(tmp_path):
    torch.manual_seed(2)
    src = TinyGenerator()
    ok = tmp_path / "w.pt"
    torch.save(src.state_dict(), ok)
    load_student_into(TinyGenerator(), ok)
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": src.state_dict(), "obj": TinyGenerator()}, evil)  # a pickled module
    with pytest.raises(ModelError) as e:
        load_student_checkpoint(evil)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("damage", ["truncate", "garble", "empty"])
def test_corrupt_checkpoint_is_one_line_model_error(tmp_path, damage):
    from safetensors.torch import save_file

    p = tmp_path / "c.safetensors"
    save_file({k: v.contiguous() for k, v in TinyGenerator().state_dict().items()}, str(p))
    data = p.read_bytes()
    p.write_bytes({"truncate": data[: len(data) // 3], "garble": b"\x00\xff" * 64 + data[128:], "empty": b""}[damage])
    with pytest.raises(ModelError) as e:
        load_student_checkpoint(p)
    assert "\n" not in str(e.value) and "c.safetensors" in str(e.value)


def test_checkpoint_for_another_model_and_odd_files(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in TinyGenerator(ch=4).state_dict().items()}, str(p))
    with pytest.raises(ModelError, match="does not match"):
        load_student_into(TinyGenerator(), p)
    with pytest.raises(ModelError, match="not found"):
        load_student_checkpoint(tmp_path / "missing.safetensors")
    (tmp_path / "w.pkl").write_bytes(b"x")
    with pytest.raises(ModelError, match="unsupported checkpoint"):
        load_student_checkpoint(tmp_path / "w.pkl")


def test_write_look_pack_is_loadable_and_runs(tmp_path):
    from exporters.look_pack import write_look_pack
    from livefilter.looks import load_look
    from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator

    torch.manual_seed(0)
    preview = np.random.default_rng(0).integers(0, 255, (SIZE, 2 * SIZE, 3), np.uint8)
    look, report = write_look_pack(TinyGenerator().eval(), tmp_path, name="tiny", style_code=[0.1] * STYLE,
                                   input_size=SIZE, align_padding=0.25, preview=preview)
    assert (look.root / "preview.jpg").is_file() and look.preview_path is not None
    meta = json.loads((look.root / "look.json").read_text())
    assert meta["metrics"]["export"]["parity_max_abs"] < 1e-4 and len(meta["onnx_sha256"]) == 64
    again = load_look(look.root)  # sha256 + ONNX inputs validated
    t = OnnxRuntimeTranslator(again, threads=1)
    crops = np.random.default_rng(1).integers(0, 255, (3, SIZE, SIZE, 3), np.uint8)
    out = t(crops, np.asarray(again.style_code, np.float32), np.zeros(3, np.float32))
    assert np.abs(out.astype(int) - crops).max() <= 1  # strength 0 = input


def test_look_whose_onnx_has_wrong_inputs_is_one_line_error(tmp_path, exported):
    import shutil

    from livefilter.looks import load_look

    _, path, _ = exported
    folder = tmp_path / "wrong"
    folder.mkdir()
    shutil.copyfile(path, folder / "student.onnx")
    from livefilter.looks.pack import Look, sha256_file

    Look(name="wrong", root=folder, input_size=SIZE, input_names={"image": "pixels", "style": "style",
         "strength": "strength"}, output_name="output", style_code=[0.0] * STYLE,
         onnx_sha256=sha256_file(folder / "student.onnx"), preview=None).save()
    with pytest.raises(LookError) as e:
        load_look(folder)
    assert "\n" not in str(e.value) and "no input 'pixels'" in str(e.value)
    Look(name="wrong", root=folder, input_size=SIZE * 2, input_names={"image": "image", "style": "style",
         "strength": "strength"}, output_name="output", style_code=[0.0] * STYLE,
         onnx_sha256=sha256_file(folder / "student.onnx"), preview=None).save()
    with pytest.raises(LookError, match=r"must be \[N,3,64,64\]"):
        load_look(folder)
