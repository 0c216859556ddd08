"""Training stack on real faces at tiny sizes: losses, resume, DDP, the full look path."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import REPO_ROOT, shared_path  # noqa: E402
from exporters.onnx_export import torchscript_export  # noqa: E402
from livefilter.align.host import Aligner  # noqa: E402
from livefilter.errors import InputError, ModelError  # noqa: E402
from training import losses as L  # noqa: E402
from training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from training.config import DistillConfig, LookSpec, TrainConfig  # noqa: E402
from training.data import prepare_crops  # noqa: E402
from training.models.student import Student, StudentConfig
from training.models.teacher import Teacher, TeacherConfig
from training.models.complexity import count_macs  # noqa: E402
from training.train import TeacherTrainer, to_tensor  # noqa: E402

SIZE = 48


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    al = Aligner(SIZE, 0.25)
    cache = tmp_path_factory.mktemp("cache")
    src = prepare_crops([shared_path("faces", "deepface_tests")], al, cache).crops[:12]
    glam = prepare_crops([shared_path("faces", "makeup_beautygan_honlan", "makeup")], al, cache).crops[:4]
    toon = prepare_crops([shared_path("faces", "dualstylegan_style_refs")], al, cache).crops[:4]
    return {"source": src, "refs": [glam, toon]}


def tiny_config(**kw) -> TrainConfig:
    cfg = TrainConfig(source=[], looks=[LookSpec("glam", []), LookSpec("toon", [])], size=SIZE, batch=2,
                      iterations=4, checkpoint_every=1000, sample_every=1000, threads=1,
                      teacher=TeacherConfig(base=8, res_blocks=1, style_dim=8))
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_lsgan_and_hinge_by_hand():
    real, fake = [torch.tensor([1.0, 0.5])], [torch.tensor([0.0, 0.5])]
    assert L.lsgan_d(real, fake).item() == pytest.approx((0 + 0.25) / 2 + (0 + 0.25) / 2)
    assert L.lsgan_g(fake).item() == pytest.approx((1 + 0.25) / 2)
    assert L.hinge_d(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (1 + 1.5) / 2)
    assert L.hinge_g(fake).item() == pytest.approx(-0.25)


def test_gram_tv_and_colour_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    g = L.gram(f)
    assert torch.allclose(g, torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)
    x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    assert L.total_variation(x).item() == pytest.approx(0 + 1.0)
    img = torch.zeros(1, 3, 2, 2)
    img[:, 0] = torch.tensor([[1.0, 3.0], [5.0, 7.0]])
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    mean, std = L.masked_colour_stats(img, mask)
    assert mean[0, 0].item() == pytest.approx(2.0) and std[0, 0].item() == pytest.approx(1.0, abs=1e-3)
    assert L.masked_l1(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), mask).item() == pytest.approx(0.5)


def test_student_is_at_least_20x_cheaper_and_within_budget():
    t, s = Teacher(TeacherConfig(base=24, res_blocks=3)), Student(StudentConfig(base=12))
    for size in (128, 256):
        x, st = torch.zeros(1, 3, size, size), torch.zeros(1, 16)
        mt, ms = count_macs(t, x, st), count_macs(s, x, st, torch.ones(1, 1))
        assert mt / ms >= 20
    assert ms <= 0.6e9  # at 256x256


def test_student_strength_zero_returns_input():
    s = Student(StudentConfig(base=8, style_dim=8))
    torch.nn.init.normal_(s.head.weight)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = s(x, torch.randn(2, 8), torch.zeros(2, 1))
    assert torch.equal(out, x)
    assert not torch.equal(s(x, torch.randn(2, 8), torch.ones(2, 1)), x)


def test_resume_is_bit_identical(tmp_path, tiny_data):
    a = TeacherTrainer(tiny_config(iterations=4), tmp_path / "a", device="cpu", data=tiny_data)
    for _ in range(4):
        a.train_step()
    b = TeacherTrainer(tiny_config(iterations=4), tmp_path / "b", device="cpu", data=tiny_data)
    for _ in range(2):
        b.train_step()
    b.save()
    c = TeacherTrainer(tiny_config(iterations=4), tmp_path / "b", device="cpu", data=tiny_data)
    assert c.resume() and c.step == 2
    for _ in range(2):
        c.train_step()
    for (k, va), (_, vc) in zip(a.G.state_dict().items(), c.G.state_dict().items()):
        assert torch.equal(va, vc), k


def test_corrupt_checkpoint_is_a_model_error(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(ModelError, match="not a valid"):
        load_checkpoint(p, {"G": Teacher(TeacherConfig(base=8, res_blocks=1, style_dim=8))})
    good = save_checkpoint(tmp_path / "g.safetensors", {"G": Teacher(TeacherConfig(base=8, res_blocks=1, style_dim=8))})
    with pytest.raises(ModelError, match="does not match"):
        load_checkpoint(good, {"G": Teacher(TeacherConfig(base=16, res_blocks=1, style_dim=8))})


def test_no_faces_folder_is_an_input_error(tmp_path):
    import cv2

    (tmp_path / "blank").mkdir()
    cv2.imwrite(str(tmp_path / "blank" / "a.png"), np.full((64, 64, 3), 128, np.uint8))
    with pytest.raises(InputError, match="no faces"):
        prepare_crops([tmp_path / "blank"], Aligner(SIZE))


def _run_cli(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=300)


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "blank").mkdir()
    r = _run_gan("train", "--run", str(tmp_path / "run"), "--source", str(tmp_path / "blank"),
                 "--look", f"x={tmp_path / 'blank'}", "--iterations", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "error:" in r.stderr
    r = _run_gan("distill", "--run", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no teacher run" in r.stderr


def test_the_research_gan_commands_are_not_on_the_shipped_command():
    """No shipped look comes from the teacher GAN path yet: its commands live in ``python -m training.gan``."""
    for command in ("train", "distill"):
        r = _run_cli(command, "--help")
        assert r.returncode == 2 and "No such command" in r.stderr, command
        assert _run_gan(command, "--help").returncode == 0


def _run_gan(*args):
    return subprocess.run([sys.executable, "-m", "training.gan", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)


DDP_WORKER = r"""
import os, sys, torch
sys.path.insert(0, sys.argv[1])
from training.config import LookSpec, TrainConfig
from training.models.teacher import TeacherConfig
from training.train import TeacherTrainer
import numpy as np
rng = np.random.default_rng(0)
data = {"source": rng.integers(0, 255, (8, 48, 48, 3), np.uint8),
        "refs": [rng.integers(0, 255, (4, 48, 48, 3), np.uint8) for _ in range(2)]}
cfg = TrainConfig(source=[], looks=[LookSpec("a", []), LookSpec("b", [])], size=48, batch=2, threads=1,
                  teacher=TeacherConfig(base=8, res_blocks=1, style_dim=8))
tr = TeacherTrainer(cfg, sys.argv[2], device="cpu", data=data)
assert tr.world == 2
for _ in range(2):
    tr.train_step()
w = torch.cat([p.detach().flatten() for p in tr.G.parameters()])
torch.save(w, os.path.join(sys.argv[2], f"w{tr.rank}.pt"))
"""


def test_ddp_two_processes_gloo(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(DDP_WORKER)
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT="29731", OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, str(script), str(REPO_ROOT), str(tmp_path)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    w0, w1 = (torch.load(tmp_path / f"w{r}.pt", weights_only=True) for r in range(2))
    assert torch.equal(w0, w1)  # gradients were all-reduced: both ranks hold the same weights


def test_full_path_train_distill_export_load_run(tmp_path, tiny_data):
    from livefilter.looks import load_look
    from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
    from training.distill import DistillTrainer
    from training.looks_from_run import write_looks

    run = tmp_path / "run"
    trainer = TeacherTrainer(tiny_config(iterations=3), run, device="cpu", data=tiny_data)
    trainer.run()
    assert (run / "checkpoints" / "teacher.safetensors").is_file() and (run / "loss_curve.png").is_file()
    dcfg = DistillConfig(iterations=3, batch=2, threads=1, student=StudentConfig(base=8))
    d = DistillTrainer(run, dcfg, to_tensor(tiny_data["source"]), run / "distill", device="cpu")
    d.run()
    # the look's references and held-out faces come from real folders
    tcfg = TrainConfig.load(run / "config.json")
    tcfg.looks = [LookSpec("glam", [str(shared_path("faces", "makeup_psgan", "makeup"))]),
                  LookSpec("toon", [str(shared_path("faces", "dualstylegan_style_refs", "anime"))])]
    written = write_looks(d.S.eval(), d.T, tcfg, d.style_codes(), tmp_path / "looks", run,
                          [shared_path("faces", "dualstylegan_content")], None, {"iterations": 3})
    assert [p.name for p in written] == ["glam", "toon"]
    look = load_look(written[0])
    meta = json.loads((written[0] / "look.json").read_text())
    assert meta["metrics"]["export"]["parity_max_abs"] < 1e-4
    assert "identity_similarity" in meta["metrics"] and (written[0] / "preview.jpg").is_file()
    t = OnnxRuntimeTranslator(look)
    crops = tiny_data["source"][:3]
    out = t(crops, np.asarray(look.style_code, np.float32), np.ones(3, np.float32))
    assert out.shape == crops.shape and out.dtype == np.uint8
    same = t(crops, np.asarray(look.style_code, np.float32), np.zeros(3, np.float32))
    assert np.abs(same.astype(int) - crops).max() <= 1  # strength 0 = the input
    # a look from a handful of reference photos: the style encoder maps them to a code
    from training.encode import encode_style

    a = encode_style(run, [shared_path("faces", "makeup_psgan", "makeup")])
    b = encode_style(run, [shared_path("faces", "dualstylegan_style_refs", "anime")])
    assert a.shape == (8,) and np.isfinite(a).all() and not np.allclose(a, b)


def test_arcface_switch_runs_an_identity_onnx_with_gradients(tmp_path, tiny_data):
    """A face-recognition ONNX (BatchNorm/PReLU/Flatten/Gemm like ArcFace) drives the identity term."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.BatchNorm2d(8), torch.nn.PReLU(8),
                              torch.nn.Conv2d(8, 8, 3, 2, 1), torch.nn.BatchNorm2d(8), torch.nn.PReLU(8),
                              torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(128, 16)).eval()
    path = tmp_path / "arcface_tiny.onnx"
    torchscript_export(net, torch.zeros(1, 3, 112, 112), path, input_names=["input"], output_names=["emb"],
                       dynamic_axes={"input": {0: "n"}}, opset_version=17)
    ident = L.OnnxIdentityNet(str(path))
    x = torch.rand(2, 3, 112, 112) * 2 - 1
    with torch.no_grad():
        ref = torch.nn.functional.normalize(net(x), dim=1)
    assert torch.allclose(ident.embed(x), ref, atol=1e-5)
    trainer = TeacherTrainer(tiny_config(arcface_onnx=str(path)), tmp_path / "run", device="cpu", data=tiny_data)
    losses = trainer.train_step()
    assert np.isfinite(losses["idpres"])
