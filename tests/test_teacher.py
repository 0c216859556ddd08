"""The teacher GAN (training/teacher): model sizes, losses by hand, the differentiable identity term, region
crops and masks, the packed data file, resume, the one-GPU script run on the CPU, and CLI errors."""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import REPO_ROOT, shared_path  # noqa: E402
from livefilter.align.host import Aligner  # noqa: E402
from livefilter.composite.regions import REGION_NAMES, face_regions  # noqa: E402
from livefilter.errors import InputError, ModelError, SettingError  # noqa: E402
from livefilter.looks.code import CODE_DIM, LookCode  # noqa: E402
from training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from training.data import prepare_crops  # noqa: E402
from training.models.layers import FiLM  # noqa: E402
from training.models.student import Student, StudentConfig  # noqa: E402
from training.teacher import losses as L  # noqa: E402
from training.teacher.discriminators import region_boxes, region_crops  # noqa: E402
from training.teacher.distill import complexity  # noqa: E402
from training.teacher.model import TeacherConfig, TeacherG  # noqa: E402
from training.teacher.trainer import TeacherRunConfig, TeacherTrainer  # noqa: E402

TINY = TeacherConfig(base=8, mid_blocks=1, cond_dim=16, ref_dim=8, ref_base=8)


@pytest.fixture(scope="module")
def faces():
    return prepare_crops([shared_path("faces", "deepface_tests")], Aligner(256, 0.25))


@pytest.fixture(scope="module")
def pack_file(tmp_path_factory):
    """A real packed data file from a small data root (plain faces, one makeup folder, the style references)."""
    from training.teacher.prepare import write_pack

    root = tmp_path_factory.mktemp("data")
    (root / "faces").mkdir()
    for rel in ("ultralight_imgs", "makeup_psgan/makeup", "dualstylegan_style_refs"):  # linked file by file
        src = shared_path("faces", rel)
        for f in sorted(p for p in src.rglob("*") if p.is_file()):
            link = root / "faces" / rel / f.relative_to(src)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f)
    run = tmp_path_factory.mktemp("run")
    return write_pack(root, run, run / "teacher-data.npz")


def test_lsgan_gram_tv_by_hand():
    assert L.lsgan_d(torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.5])).item() == pytest.approx(0.125 + 0.125)
    assert L.lsgan_g(torch.tensor([0.0, 0.5])).item() == pytest.approx((1 + 0.25) / 2)
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    assert torch.allclose(L.gram(f), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)
    x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    assert L.total_variation(x).item() == pytest.approx(1.0)


def test_style_loss_is_the_pseudo_target_s_texture_plus_a_share_of_the_references():
    torch.manual_seed(0)
    target = [torch.rand(2, 4, 8, 8), torch.rand(2, 6, 4, 4)]
    refs = [L.gram(torch.rand(1, 4, 8, 8)), L.gram(torch.rand(1, 6, 4, 4))]
    w = torch.ones(2)
    assert L.style_loss(target, target, refs, w, 0.0).item() == 0.0  # the illustration's own texture: nothing to do
    blurred = [f.mean((2, 3), keepdim=True).expand_as(f) * 0.5 + f * 0.5 for f in target]
    assert L.style_loss(blurred, target, refs, w, 0.0).item() > 0.0
    with_refs = L.style_loss(target, target, refs, w, 0.5).item()
    assert with_refs == pytest.approx(0.5 * L.gram_loss(target, refs, w).item())
    out = [f.clone().requires_grad_(True) for f in blurred]
    L.style_loss(out, target, refs, w, 0.0).backward()
    assert all(o.grad.abs().sum() > 0 for o in out) and all(not t.requires_grad for t in target)


def test_teacher_is_several_million_parameters_and_20x_the_student():
    c = complexity(TeacherG(TeacherRunConfig().teacher), Student(TeacherRunConfig().student))
    assert c["teacher_params"] >= 3_000_000
    assert c["student_macs"]["128"] <= 0.6e9
    for size in ("128", "256"):
        assert c["mac_ratio"][size] >= 20, c


def test_empty_reference_set_and_condition_shapes():
    g = TeacherG(TINY)
    photos, masks = torch.rand(3, 3, 64, 64) * 2 - 1, torch.rand(3, len(REGION_NAMES), 64, 64)
    per = g.refs(photos, masks)
    sets = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    emb = g.refs.pool_set(per, sets)
    assert torch.allclose(emb[0], per[:2].mean(0)) and torch.equal(emb[1], torch.zeros_like(emb[1]))
    cond = g.condition(torch.zeros(2, CODE_DIM), emb, (sets.sum(1, keepdim=True) > 0).float())
    out = g(torch.rand(2, 3, 64, 64) * 2 - 1, cond)
    assert out.shape == (2, 3, 64, 64) and torch.isfinite(out).all()


def test_facenet_identity_term_matches_the_measure_and_has_gradients(faces):
    from training.eval import identity

    if not identity.available():
        pytest.skip(identity.unavailable_reason())
    net = L.FaceNetIdentity()
    crops = faces.crops[:3]
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255).requires_grad_(True)
    e = net(x)
    ref = identity.embed(crops)
    assert (e.detach().numpy() * ref).sum(1).min() > 0.99  # the same embedding as the onnxruntime measure
    (1 - (e[0] * e[1]).sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_identity_term_lets_a_stylised_face_go_as_far_as_its_margin():
    """A makeup face pays 1 - cosine; a stylised one only the cosine it loses below the margin, so the toon
    may flatten the photo's shading as far as the illustration does and still be the same person."""
    net = lambda x: torch.nn.functional.normalize(x.flatten(1), dim=1)  # noqa: E731  (cosine of the pixels)
    base = torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(0)) + 0.5
    near = (base + 0.1 * torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(1))).requires_grad_(True)
    cos = (net(near) * net(base)).sum(1).detach()
    assert cos.min() > L.STYLE_ID_MARGIN
    full = L.identity_loss(net, near, base)
    assert full.item() == pytest.approx(float((1 - cos).mean()), rel=1e-5) and full.item() > 0
    stylised = torch.tensor([1.0, 1.0, 0.0, 0.0])
    part = L.identity_loss(net, near, base, stylised)
    assert part.item() == pytest.approx(float((1 - cos[2:]).sum() / 4), rel=1e-5)  # the two stylised are free
    part.backward()
    assert near.grad[:2].abs().max() == 0.0 and near.grad[2:].abs().sum() > 0
    far = torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(2))  # another "person"
    fcos = (net(far) * net(base)).sum(1)
    assert fcos.max() < L.STYLE_ID_MARGIN
    assert L.identity_loss(net, far, base, torch.ones(4)).item() == pytest.approx(
        float((L.STYLE_ID_MARGIN - fcos).mean()), rel=1e-5)


def test_a_stylised_face_is_judged_by_the_style_head_not_the_photo_face_head(tmp_path, pack_file):
    from training.teacher.prepare import read_pack

    pack = read_pack(pack_file, threads=2, limit=4)
    t = TeacherTrainer(_tiny_cfg(), pack, tmp_path / "a")
    code = torch.from_numpy(np.stack([LookCode(paint=1.0).vector(), LookCode(lips_opacity=0.8).vector()]))
    act = t._active(code)
    assert act["style"].tolist() == [True, False] and act["face"].tolist() == [False, True]
    assert act["lips"].tolist() == [False, True]


def test_region_crops_sit_on_their_regions(faces):
    marks = faces.landmarks[:2]
    boxes = torch.from_numpy(region_boxes(marks, 256))
    for i, pts in enumerate(marks):
        r = face_regions(pts, 256).masks
        img = torch.from_numpy(np.stack([r["lips"], r["eyeshadow"], r["blush"]]))[None].float() * 2 - 1
        crops = region_crops(img, boxes[i:i + 1])
        area = lambda b: float(4 * b[2] * b[3]) * (256 / 2) ** 2  # noqa: E731  (box area in source pixels)
        captured = lambda c, ch, k: float(((c[k, ch] + 1) / 2).mean()) * area(boxes[i, 1 + k if ch else 0])  # noqa: E731
        assert captured(crops["lips"], 0, 0) > 0.9 * r["lips"].sum()  # the whole lips are in the lip crop
        shadow = captured(crops["eyes"], 1, 0) + captured(crops["eyes"], 1, 1)
        assert shadow > 0.85 * r["eyeshadow"].sum()  # both lids' shadow bands are in the eye crops
        c = crops["cheeks"]
        blush = sum(float(((c[k, 2] + 1) / 2).mean()) * area(boxes[i, 3 + k]) for k in (0, 1))
        assert blush > 0.5 * r["blush"].sum()


def test_forbidden_mask_covers_mouth_and_eyes_not_makeup(faces):
    from training.teacher.prepare import forbidden_mask

    pts = faces.landmarks[0]
    f = forbidden_mask(pts, 256)
    r = face_regions(pts, 256).masks
    assert f.sum() > 200
    for region in ("lips", "eyeshadow", "blush"):
        assert (f * r[region]).sum() < 0.1 * r[region].sum(), region


def test_descriptor_loss_is_zero_for_the_empty_look_on_its_input():
    from livefilter.composite.regions import MEASURE_NAMES
    from training.makeup.colour import rgb_to_lab

    lab = rgb_to_lab(torch.rand(2, 3, 32, 32))
    measure = torch.zeros(2, len(MEASURE_NAMES), 32, 32)
    measure[:, :, 4:20, 4:20] = 1
    code = torch.from_numpy(np.stack([LookCode().vector()] * 2))
    loss, skin = L.descriptor_loss(lab, lab, measure, code, {"lips_L_rel": -10.0, "lid_L_rel": -13.0})
    assert loss.item() == pytest.approx(0.0, abs=1e-6) and torch.allclose(skin, torch.zeros(2))
    dark = lab.clone()
    dark[:, 0] -= 10
    loss2, skin2 = L.descriptor_loss(dark, lab, measure, code, {"lips_L_rel": -10.0, "lid_L_rel": -13.0})
    assert torch.allclose(skin2, torch.full((2,), -10.0), atol=1e-4)


def test_descriptor_loss_moves_the_region_not_the_skin_it_is_measured_against():
    """A lipstick's target is stated relative to the skin; the loss must not be met by lightening the skin."""
    from livefilter.composite.regions import MEASURE_NAMES
    from training.makeup.colour import rgb_to_lab

    M = {n: i for i, n in enumerate(MEASURE_NAMES)}
    img = torch.rand(2, 3, 32, 32) * 0.2 + 0.5
    measure = torch.zeros(2, len(MEASURE_NAMES), 32, 32)
    measure[:, M["lips"], 20:28, 8:24] = 1
    measure[:, M["skin"], 2:14, 2:30] = 1
    code = torch.from_numpy(np.stack([LookCode(lips_opacity=1.0, lips_dL=-30.0, lips_a=40.0).vector()] * 2))
    out = img.clone().requires_grad_(True)
    base = {"lips_L_rel": -10.0, "lid_L_rel": -13.0}
    loss, skin = L.descriptor_loss(rgb_to_lab(out), rgb_to_lab(img), measure, code, base)
    (loss + 0 * skin.sum()).backward()
    g = out.grad.abs().sum(1)
    assert g[:, 20:28, 8:24].sum() > 0  # the lips are pulled towards the code
    assert g[:, 2:14, 2:30].sum() == 0  # the skin they are measured against is not
    assert skin.requires_grad  # the skin guard still sees the skin's change


def test_local_colour_loss_follows_the_target_on_its_regions_only():
    from training.makeup.colour import rgb_to_lab

    img = torch.rand(2, 3, 32, 32)
    masks = torch.zeros(2, len(REGION_NAMES), 32, 32)
    masks[:, REGION_NAMES.index("blush"), 4:14, 4:14] = 1
    masks[:, REGION_NAMES.index("lips"), 20:28, 10:20] = 1
    lab = rgb_to_lab(img)
    assert L.local_colour_loss(lab, lab, masks).item() == pytest.approx(0.0, abs=1e-7)
    blushed = lab.clone()
    blushed[:, 1, 4:14, 4:14] += 6.0  # the target's blush: six a* units on the blush region
    out = lab.clone().requires_grad_(True)
    loss = L.local_colour_loss(out, blushed, masks, window=3)
    assert 0.2 < loss.item() <= 36 / 100  # six a* units short, less where the box reaches past the blush
    loss.backward()
    g = out.grad.abs().sum(1)
    assert g[:, 5:13, 5:13].min() > 0 and g[:, 20:28, 10:20].max() == 0  # pushes the cheeks, not the lips
    # local: the right mean colour gathered in half the region is still wrong
    gathered = lab.clone()
    gathered[:, 1, 4:14, 4:9] += 12.0
    assert L.local_colour_loss(gathered, blushed, masks, window=3).item() > 0.5 * loss.item()
    lips_only = lab.clone()
    lips_only[:, 1, 20:28, 10:20] += 20.0
    assert L.local_colour_loss(lab, lips_only, masks).item() == pytest.approx(0.0, abs=1e-7)
    # the eye shadow's band, for the student: a darker lid counts there, the blush does not
    masks[:, REGION_NAMES.index("eyeshadow"), 16:19, 2:30] = 1
    shadowed = lab.clone()
    shadowed[:, 0, 16:19, 2:30] -= 8.0
    assert L.local_colour_loss(lab, blushed, masks, L.LID_REGIONS, 5).item() == pytest.approx(0.0, abs=1e-7)
    assert L.local_colour_loss(lab, shadowed, masks, L.LID_REGIONS, 5).item() > 0.1


def test_detail_loss_asks_for_the_targets_fine_detail():
    from training.makeup.colour import rgb_to_lab

    g = torch.Generator().manual_seed(0)
    img = (0.5 + 0.1 * torch.rand(2, 3, 32, 32, generator=g)).clamp(0, 1)
    lab = rgb_to_lab(img)
    w = torch.ones(2, 1, 32, 32)
    assert L.detail_loss(lab, lab, w).item() == pytest.approx(0.0, abs=1e-8)
    shifted = lab.clone()
    shifted[:, 0] += 5.0  # a flat lightness change has no detail to miss
    assert L.detail_loss(shifted, lab, w).item() == pytest.approx(0.0, abs=1e-6)
    blurred = torch.nn.functional.avg_pool2d(lab, 3, 1, 1, count_include_pad=False)
    assert L.detail_loss(blurred, lab, w).item() > 0.01
    assert L.detail_loss(blurred, lab, torch.zeros_like(w)).item() == 0.0


def test_lip_texture_loss_asks_for_the_inputs_lines_inside_the_lips_only():
    from training.makeup.colour import rgb_to_lab

    g = torch.Generator().manual_seed(2)
    img = (0.5 + 0.1 * torch.rand(2, 3, 32, 32, generator=g)).clamp(0, 1)
    lab = rgb_to_lab(img)
    masks = torch.zeros(2, len(REGION_NAMES), 32, 32)
    masks[:, L.LIPS_REGION, 10:22, 8:24] = 1.0
    keep = torch.ones(2)
    assert L.lip_texture_loss(lab, lab, masks, keep).item() == pytest.approx(0.0, abs=1e-8)
    red = lab.clone()
    red[:, 0] -= 12.0  # a lipstick: darker and redder, the lines kept
    red[:, 1] += 20.0
    assert L.lip_texture_loss(red, lab, masks, keep).item() == pytest.approx(0.0, abs=1e-5)
    flat = lab.clone()  # the teacher's smooth lips: the lines gone inside the lips
    flat[:, :, 10:22, 8:24] = lab[:, :, 10:22, 8:24].mean((2, 3), keepdim=True)
    loss = L.lip_texture_loss(flat, lab, masks, keep)
    assert loss.item() > 0.01
    # per face: the second face's share is its own, and a face outside ``keep`` (the stylised look) costs nothing
    first, second = (L.lip_texture_loss(flat, lab, masks, torch.tensor(k)).item() for k in ([1.0, 0.0], [0.0, 1.0]))
    assert first > 0 and second > 0 and first + second == pytest.approx(loss.item())
    outside = lab.clone()  # smoothing outside the lips is not this term's business
    outside[:, :, :8] = lab[:, :, :8].mean((2, 3), keepdim=True)
    assert L.lip_texture_loss(outside, lab, masks, keep).item() == pytest.approx(0.0, abs=1e-8)


def test_placement_loss_is_a_hard_zero_where_the_look_leaves_the_face():
    from training.makeup.colour import rgb_to_lab

    g = torch.Generator().manual_seed(1)
    img = (0.4 + 0.2 * torch.rand(2, 3, 32, 32, generator=g)).clamp(0, 1)
    off = torch.ones(2, 1, 32, 32)
    off[:, :, 12:20, 10:22] = 0.0  # the lips, which the look paints
    lipstick = img.clone()
    lipstick[:, :, 12:20, 10:22] = torch.tensor([0.7, 0.2, 0.25]).view(1, 3, 1, 1)
    lab_in, keep = rgb_to_lab(img), torch.ones(2)
    assert L.placement_loss(rgb_to_lab(lipstick), lab_in, off, keep).item() == pytest.approx(0.0, abs=1e-6)
    smeared = lipstick.clone().requires_grad_(True)
    tint = torch.nn.functional.pad(torch.full((2, 3, 4, 12), 0.03), (10, 10, 20, 8))
    loss = L.placement_loss(rgb_to_lab(smeared + tint * torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)),
                            lab_in, off, keep)
    assert loss.item() > 0.05  # a faint tint below the lips is paid for
    loss.backward()
    grad = smeared.grad.abs().sum(1)
    assert grad[:, 12:20, 10:22].max() == 0.0 and grad[:, 20:24, 10:22].min() > 0  # only off the look's area
    # about L1: the same colour spread twice as thin over twice the area costs about the same (a squared
    # error would charge it half)
    thin = lab_in.clone()
    thin[:, 1, 0:8] += 2.0
    thick = lab_in.clone()
    thick[:, 1, 0:4] += 4.0
    a, b = (L.placement_loss(t, lab_in, off, keep).item() for t in (thin, thick))
    assert 0.7 < a / b < 1.0
    assert L.placement_loss(thin, lab_in, off, torch.zeros(2)).item() == 0.0  # a stylised face is exempt


def test_placement_peak_pays_for_a_blotch_the_mean_hardly_sees():
    """The placement mean dilutes a strong blotch on one percent of the crop by the untouched area; the peak
    term charges it at its full value, and a faint change spread evenly stays faint."""
    from training.makeup.colour import rgb_to_lab

    lab_in = rgb_to_lab(torch.full((2, 3, 40, 40), 0.5))
    keep, off = torch.ones(2), torch.ones(2, 1, 40, 40)
    off[:, :, 25:35, 10:30] = 0.0  # the lips
    blotch, smear = lab_in.clone(), lab_in.clone()
    blotch[:, 1, 2:6, 18:22] += 15.0  # 16 pixels, one percent of the crop
    smear[:, 1] += 15.0 * 16 / 1400 * (off[:, 0] > 0)  # the same total change over the untouched 1,400 pixels
    mean = [L.placement_loss(t, lab_in, off, keep).item() for t in (blotch, smear)]
    peak = [L.placement_peak_loss(t, lab_in, off, keep).item() for t in (blotch, smear)]
    full = (15.0 ** 2 + 0.25) ** 0.5 - 0.5  # the blotch's Charbonnier change per pixel
    assert mean[0] == pytest.approx(full * 16 / 1400, rel=0.01)  # diluted a hundredfold
    assert peak[0] == pytest.approx(full, rel=0.01) and peak[1] == pytest.approx(mean[1], rel=0.01)
    assert peak[0] > 100 * peak[1]
    lips = lab_in.clone()
    lips[:, 1, 25:35, 10:30] += 30.0  # the look's own colour is not a blotch
    assert L.placement_peak_loss(lips, lab_in, off, keep).item() == pytest.approx(0.0, abs=1e-6)
    assert L.placement_peak_loss(blotch, lab_in, off, torch.zeros(2)).item() == 0.0  # a stylised face is exempt


def test_spread_loss_asks_for_colour_where_the_renderer_puts_it():
    """Inside the lips and the lid, the colour change must follow the renderer's weight (core full, soft edge
    faint), whatever its amount; a pool of the same colour at the soft edge is paid for."""
    from training.makeup.colour import rgb_to_lab
    from training.makeup.render import render

    n = len(REGION_NAMES)
    masks = torch.zeros(2, n, 32, 48)
    ramp = torch.cat([torch.linspace(0.05, 1.0, 6), torch.ones(8), torch.linspace(1.0, 0.05, 6)])
    masks[:, REGION_NAMES.index("lips"), 20:28, 4:24] = ramp  # a lip with soft ends
    masks[:, REGION_NAMES.index("eyeshadow"), 4:12, 26:46] = ramp  # a lid with soft ends
    masks[:, REGION_NAMES.index("eyeliner"), 11:12, 26:46] = 1.0  # the liner along its lower edge
    masks[:, REGION_NAMES.index("skin")] = 0.2
    code = torch.from_numpy(np.stack([LookCode(lips_opacity=0.9, lips_a=45.0, shadow_opacity=0.8, shadow_a=15.0,
                                               shadow_dL=-10.0, liner_opacity=0.9, liner_L=15.0).vector()] * 2))
    img = torch.full((2, 3, 32, 48), 0.55)  # one flat colour: the renderer's change is exactly its weight's shape
    lab_in, keep = rgb_to_lab(img), torch.ones(2)
    flat = torch.zeros(2, 3, 32, 48)
    target = rgb_to_lab(render(img, masks, code, img, img, flat[:, :1]))
    assert L.spread_loss(lab_in, lab_in, masks, code, keep).item() == pytest.approx(0.0, abs=1e-6)
    rendered = L.spread_loss(target, lab_in, masks, code, keep).item()
    assert rendered < 0.01
    more = L.spread_loss(lab_in + 3 * (target - lab_in), lab_in, masks, code, keep).item()
    assert more < 0.05  # three times the colour in the same places: the amount is the colour target's business
    # the same lipstick gathered at the soft end of the lip (the philtrum's pool)
    pooled = lab_in.clone()
    change = (target - lab_in)[:, :, 20:28, 4:24].mean((2, 3), keepdim=True)
    pooled[:, :, 20:28, 4:7] += change * 20 / 3
    pooled[:, :, 4:12, 26:46] = target[:, :, 4:12, 26:46]
    assert L.spread_loss(pooled, lab_in, masks, code, keep).item() > 50 * max(rendered, 1e-3)
    assert L.spread_loss(pooled, lab_in, masks, code, torch.zeros(2)).item() == 0.0  # a stylised face is exempt
    # the liner is another colour: darkening it does not count against the lid's spread
    lined = target.clone()
    lined[:, 0, 11:12, 26:46] -= 30.0
    assert L.spread_loss(lined, lab_in, masks, code, keep).item() == pytest.approx(rendered, abs=0.02)
    out = target.clone().requires_grad_(True)
    L.spread_loss(out + pooled - target, lab_in, masks, code, keep).backward()
    grad = out.grad.abs().sum(1)
    assert grad[:, 20:28, 4:24].sum() > 0 and grad[:, 0:2].max() == 0.0  # only in and beside the look's regions


def test_coverage_is_where_the_look_paints_however_faintly():
    from training.makeup.render import coverage

    masks = torch.zeros(3, len(REGION_NAMES), 16, 16)
    masks[:, REGION_NAMES.index("lips"), 10:14, 4:12] = 1.0
    masks[:, REGION_NAMES.index("blush"), 2:8, 0:6] = torch.linspace(0.01, 1.0, 6)  # a soft falloff
    masks[:, REGION_NAMES.index("skin")] = 0.5
    codes = torch.from_numpy(np.stack([LookCode(lips_opacity=0.8).vector(),
                                       LookCode(lips_opacity=0.8, blush_opacity=0.5, skin_opacity=0.2).vector(),
                                       LookCode(paint=1.0).vector()]))
    cov = coverage(masks, codes)
    assert cov.shape == (3, 1, 16, 16)
    lips_only = cov[0, 0]
    assert lips_only[10:14, 4:12].min() == pytest.approx(0.8) and lips_only[:10].max() == 0.0  # the blush is off
    full = cov[1, 0]
    assert full[2:8, 5].min() == pytest.approx(0.5) and full[0, 0] == pytest.approx(0.1)  # skin finish: all skin
    assert full[2:8, 0].min() == pytest.approx(0.1)  # the blush's faint tail is the look's (the skin's 0.1)
    assert torch.all(cov[2] == 1.0)  # a stylised look paints everything


def test_the_renderer_changes_nothing_the_coverage_calls_untouched():
    """The contract the placement term rests on: any makeup code, any masks, and where ``coverage`` is zero the
    renderer's output is its input (an operation added to the renderer must be added to the coverage too)."""
    from dataclasses import fields

    from training.makeup.render import coverage, render

    g = torch.Generator().manual_seed(3)
    rng = np.random.default_rng(3)
    codes = []
    for _ in range(6):
        c = LookCode(**{f.name: float(rng.uniform(0.0, 1.0) if f.name.endswith("opacity") else rng.uniform(-40, 40))
                        for f in fields(LookCode) if not f.name.startswith("paint")}).clipped()
        codes.append(c.vector())
    code = torch.from_numpy(np.stack(codes))
    n = len(REGION_NAMES)
    masks = torch.zeros(6, n, 24, 3 * n)
    for r in range(n):  # each region its own columns, so an operation missing from the coverage shows
        masks[:, r, 8:, 3 * r:3 * r + 4] = torch.rand(6, 16, min(4, 3 * n - 3 * r), generator=g)
    img = torch.rand(6, 3, 24, 3 * n, generator=g)
    out = render(img, masks, code, torch.rand(6, 3, 24, 3 * n, generator=g), img,
                 torch.rand(6, 1, 24, 3 * n, generator=g))
    off = coverage(masks, code)[:, 0] == 0
    assert off[:, :8].all() and not off[:, 8:].all()  # the top third belongs to no region
    assert (out - img).abs().amax(1)[off].max() < 1e-4


def test_the_renderer_keeps_the_chroma_the_chroma_coverage_calls_untouched():
    """The same contract for a* and b*: where only lightness operations reach (brows, contour,
    highlight), the renderer darkens or lightens and never tints. Mid-range colours, so no channel clips."""
    from dataclasses import fields

    from training.makeup.colour import rgb_to_lab
    from training.makeup.render import coverage, render

    g = torch.Generator().manual_seed(4)
    rng = np.random.default_rng(4)
    code = torch.from_numpy(np.stack([LookCode(**{
        f.name: float(rng.uniform(0.2, 1.0) if f.name.endswith("opacity") else rng.uniform(-15, 15))
        for f in fields(LookCode) if not f.name.startswith("paint")}).clipped().vector() for _ in range(6)]))
    n = len(REGION_NAMES)
    masks = torch.zeros(6, n, 24, 3 * n)
    for r in range(n):
        masks[:, r, 8:, 3 * r:3 * r + 3] = torch.rand(6, 16, 3, generator=g)
    img = 0.35 + 0.3 * torch.rand(6, 3, 24, 3 * n, generator=g)
    out = render(img, masks, code, 0.35 + 0.3 * torch.rand(6, 3, 24, 3 * n, generator=g), img,
                 torch.rand(6, 1, 24, 3 * n, generator=g))
    d = (rgb_to_lab(out) - rgb_to_lab(img)).abs()
    keeps = coverage(masks, code, chroma=True)[:, 0] == 0
    lightness_only = keeps & (coverage(masks, code)[:, 0] > 0)
    for r in ("brows", "contour", "highlight"):  # each region's columns are painted, in lightness
        i = REGION_NAMES.index(r)
        assert lightness_only[:, 8:, 3 * i:3 * i + 3].all()
    assert d[:, 0][lightness_only].max() > 1.0  # lightness moves there...
    assert d[:, 1:].amax(1)[keeps].max() < 0.05  # ...and chroma does not
    assert not keeps[:, 8:, 3 * REGION_NAMES.index("lips")].any()


def test_placement_loss_charges_a_tint_where_the_look_only_darkens():
    """Inside the brows the look changes lightness alone: a darker brow is free, a red blotch there is not."""
    from training.makeup.colour import rgb_to_lab

    img = torch.full((2, 3, 32, 32), 0.5)
    lab_in, keep = rgb_to_lab(img), torch.ones(2)
    off = torch.ones(2, 1, 32, 32)
    off[:, :, 4:10, 6:26] = 0.0  # the brows: painted...
    off_chroma = torch.ones(2, 1, 32, 32)  # ...in lightness only
    darker = lab_in.clone()
    darker[:, 0, 4:10, 6:26] -= 12.0
    assert L.placement_loss(darker, lab_in, off, keep, off_chroma=off_chroma).item() == pytest.approx(0.0, abs=1e-6)
    blotch = darker.clone()
    blotch[:, 1, 6:9, 14:18] += 15.0
    tinted = L.placement_loss(blotch, lab_in, off, keep, off_chroma=off_chroma).item()
    assert tinted > 0.05
    assert L.placement_loss(blotch, lab_in, off, keep).item() == pytest.approx(0.0, abs=1e-6)  # off alone misses it
    lips = off_chroma.clone()
    lips[:, :, 6:9, 14:18] = 0.0  # where an operation does move chroma, the tint is the look's
    assert L.placement_loss(blotch, lab_in, off, keep, off_chroma=lips).item() == pytest.approx(0.0, abs=1e-6)


def _sampler_info(glam: LookCode, glam_refs=()) -> dict:
    return {"looks": {"glam": {"code": glam.to_dict(), "references": list(glam_refs)},
                      "toon": {"code": LookCode(paint=1.0).to_dict(), "references": ["s1"]},
                      "soft": {"code": LookCode(shadow_opacity=0.6, shadow_dL=-3.0, shadow_a=12.0).to_dict(),
                               "references": []}},
            "makeup_reference_names": ["m1"], "makeup_reference_descriptors": [
                {k: 1.0 for k in ("lips_L_rel", "lips_a", "lips_b", "lid_L_rel", "lid_a", "lid_b", "brow_L_rel",
                                  "cheek_a_rel", "cheek_b_rel", "cheek_L_rel")}],
            "baseline": {k: 0.0 for k in ("lips_L_rel", "lid_L_rel", "brow_L_rel", "cheek_a_rel", "cheek_b_rel",
                                          "cheek_L_rel")}}


def test_paint_share_draws_the_stylised_look_more_often():
    from training.teacher.conditions import ConditionSampler

    info = _sampler_info(LookCode(lips_opacity=1.0))

    def share(p):
        s = ConditionSampler(info, ["m1", "s1"], ["makeup", "style"], np.random.default_rng(0), paint_share=p)
        c = s.batch(2000)
        toon = c.codes[:, list(LookCode().to_dict()).index("paint")] > 0.5
        assert np.all(c.ref_sets[toon & (np.array(c.kinds) == "family"), 1] == 1)  # with the style photos
        return toon.mean()

    base, boosted = share(0.0), share(0.3)
    assert 0.1 < base < 0.45 and boosted == pytest.approx(0.3 + 0.7 * base, abs=0.04)


def test_eye_share_draws_liner_and_brows_apart_from_the_eye_shadow():
    """Glam's strong lid shadow always came with its liner and brows; with ``eye_share`` the family's eye shadow
    is also drawn with them off, and with another look's shadow, whose lid target is then not the photos'."""
    from training.teacher.conditions import TARGET_KEYS, ConditionSampler

    glam = LookCode(lips_opacity=1.0, lips_a=40.0, shadow_opacity=0.8, shadow_dL=-30.0, liner_opacity=0.9,
                    brow_opacity=0.7)
    names = list(LookCode().to_dict())
    col = {k: names.index(k) for k in ("shadow_opacity", "shadow_dL", "liner_opacity", "brow_opacity", "lips_a")}

    def draw(share):
        s = ConditionSampler(_sampler_info(glam, ["m1"]), ["m1", "s1"], ["makeup", "style"],
                             np.random.default_rng(1), eye_share=share)
        c = s.batch(3000)
        v = np.stack([LookCode.from_vector(x).vector() for x in c.codes])  # unit scale as the sampler wrote it
        glam_lips = np.isclose(c.codes[:, col["lips_a"]], glam.vector()[col["lips_a"]])
        return c, v, glam_lips & (np.array(c.kinds) == "family")

    c0, v0, fam0 = draw(0.0)
    liner0 = v0[fam0, col["liner_opacity"]]
    assert fam0.sum() > 200 and np.allclose(liner0[liner0 > 0], glam.vector()[col["liner_opacity"]])
    c1, v1, fam1 = draw(1.0)
    strong = fam1 & (v1[:, col["shadow_dL"]] < -1.0)  # glam's own shadow, whatever its liner and brows
    no_liner = strong & (v1[:, col["liner_opacity"]] == 0) & (v1[:, col["brow_opacity"]] == 0)
    assert 0.15 < no_liner.sum() / strong.sum() < 0.4  # each off half the time, apart from the shadow
    assert len(np.unique(v1[strong & (v1[:, col["liner_opacity"]] > 0), col["liner_opacity"]])) > 20
    swapped = fam1 & np.isclose(v1[:, col["shadow_dL"]], LookCode(shadow_dL=-3.0).vector()[col["shadow_dL"]])
    assert swapped.sum() > 50  # another family look's shadow on glam's lips
    lid = [TARGET_KEYS.index(k) for k in ("lid_L_rel", "lid_a", "lid_b")]
    lips = [TARGET_KEYS.index(k) for k in ("lips_L_rel", "lips_a", "lips_b")]
    assert np.isnan(c1.ref_desc[swapped][:, lid]).all() and np.isfinite(c1.ref_desc[swapped][:, lips]).all()
    assert np.isfinite(c1.ref_desc[strong & ~swapped & (c1.ref_sets[:, 0] == 1)][:, lid]).all()
    toon = (c1.codes[:, names.index("paint")] > 0.5) & (np.array(c1.kinds) == "family")
    assert toon.sum() > 50 and np.all(v1[toon, col["liner_opacity"]] == 0)  # the stylised look is never touched


def test_photo_dropout_hides_the_photos_and_keeps_their_target():
    """A share of the draws with photos reach the teacher with the code alone (as the student sees them); the
    colour target stays what the photos measure, and draws without photos are untouched."""
    from training.teacher.conditions import ConditionSampler

    glam = LookCode(lips_opacity=1.0, lips_a=40.0, shadow_opacity=0.8, shadow_dL=-30.0)

    def draw(p):
        s = ConditionSampler(_sampler_info(glam, ["m1"]), ["m1", "s1"], ["makeup", "style"],
                             np.random.default_rng(2), photo_dropout=p)
        return s.batch(3000)

    c0, c1 = draw(0.0), draw(0.4)
    with_photos = np.isfinite(c0.ref_desc[:, 0])  # family and reference draws: the photos measure the lips
    assert with_photos.sum() > 500 and np.all(c0.ref_sets[with_photos].sum(1) > 0)
    photos1 = np.isfinite(c1.ref_desc[:, 0])
    hidden = photos1 & (c1.ref_sets.sum(1) == 0)
    assert hidden.sum() / photos1.sum() == pytest.approx(0.4, abs=0.05)
    assert np.all(np.isfinite(c1.ref_desc[hidden, :3]))  # the photos' target, without the photos
    kinds = np.array(c1.kinds)
    assert {"family", "refs"} <= set(kinds[hidden])


def test_cross_share_draws_the_lips_and_cheeks_apart_from_the_eyes():
    """Glam's strong lipstick always came with its dark lid; with ``cross_share`` a draw keeps its own eye fields
    and takes its lips, cheeks and skin finish from a second draw. The photos describe the first draw's lips: the
    teacher does not see them, and only their lid target is kept. At 0 the draws are the recorded ones."""
    from training.teacher.conditions import CROSS_FIELDS, TARGET_KEYS, ConditionSampler

    glam = LookCode(lips_opacity=1.0, lips_a=40.0, shadow_opacity=0.8, shadow_dL=-30.0, blush_opacity=0.6,
                    blush_da=8.0)
    names = list(LookCode().to_dict())
    col = {k: names.index(k) for k in ("shadow_dL", "lips_a", "lips_opacity", "blush_da", "paint")}
    assert "lips_a" in CROSS_FIELDS and "skin_smooth" in CROSS_FIELDS and "shadow_dL" not in CROSS_FIELDS

    def draw(share, seed=3):
        s = ConditionSampler(_sampler_info(glam, ["m1"]), ["m1", "s1"], ["makeup", "style"],
                             np.random.default_rng(seed), cross_share=share)
        return s.batch(3000)

    c0 = draw(0.0)
    old = ConditionSampler(_sampler_info(glam, ["m1"]), ["m1", "s1"], ["makeup", "style"], np.random.default_rng(3))
    ref = old.batch(3000)
    assert np.array_equal(c0.codes, ref.codes) and np.array_equal(c0.ref_sets, ref.ref_sets)
    g = glam.vector()

    def glam_eyes(c):
        fam = np.array(c.kinds) == "family"
        return fam & np.isclose(c.codes[:, col["shadow_dL"]], g[col["shadow_dL"]])

    eyes0 = glam_eyes(c0)
    lips0 = c0.codes[eyes0]
    with_glam_lips0 = np.isclose(lips0[:, col["lips_a"]], g[col["lips_a"]]) | (lips0[:, col["lips_opacity"]] == 0)
    assert eyes0.sum() > 200 and with_glam_lips0.all()  # glam's lid never without glam's lips

    c1 = draw(0.5)
    eyes1 = glam_eyes(c1)
    lid = [TARGET_KEYS.index(k) for k in ("lid_L_rel", "lid_a", "lid_b")]
    lips = [TARGET_KEYS.index(k) for k in ("lips_L_rel", "lips_a", "lips_b")]
    crossed = eyes1 & np.isnan(c1.ref_desc[:, lips]).all(1)
    assert crossed.sum() / eyes1.sum() == pytest.approx(0.5, abs=0.07)
    assert np.isfinite(c1.ref_desc[crossed][:, lid]).all()  # the lid is still the photos' lid
    assert np.all(c1.ref_sets[crossed].sum(1) == 0)  # photos of other lips: the teacher has the code alone
    own_lips = np.isclose(c1.codes[:, col["lips_a"]], g[col["lips_a"]])
    assert (crossed & own_lips).sum() / crossed.sum() < 0.35  # the second draw is rarely glam again
    assert len(np.unique(c1.codes[crossed, col["lips_a"]])) > 20 and np.all(c1.codes[crossed, col["paint"]] == 0)
    assert len(np.unique(c1.codes[crossed, col["blush_da"]])) > 20
    kept = eyes1 & np.isclose(c1.codes[:, col["lips_a"]], g[col["lips_a"]]) & (c1.ref_sets[:, 0] == 1)
    assert kept.sum() > 100 and np.isfinite(c1.ref_desc[kept]).all()
    toon = (c1.codes[:, col["paint"]] > 0.5) & (np.array(c1.kinds) == "family")
    assert toon.sum() > 50 and np.all(c1.ref_sets[toon, 1] == 1)  # the stylised look is never crossed


def test_light_share_draws_lids_lighter_than_plain_with_the_other_fields_kept():
    """A share of the draws get an eye shadow lighter than a plain lid and keep their other fields; the photos no
    longer say what the lid is, so the teacher has the code alone and only their lips target stays."""
    from training.teacher.conditions import LIGHT_LID_DL, TARGET_KEYS, ConditionSampler

    glam = LookCode(lips_opacity=1.0, lips_a=40.0, shadow_opacity=0.8, shadow_dL=-30.0)
    names = list(LookCode().to_dict())
    lips_a = names.index("lips_a")

    def draw(share):
        s = ConditionSampler(_sampler_info(glam, ["m1"]), ["m1", "s1"], ["makeup", "style"],
                             np.random.default_rng(4), light_share=share)
        c = s.batch(3000)
        codes = [LookCode.from_vector(x) for x in c.codes]
        return c, {k: np.array([getattr(x, k) for x in codes]) for k in ("shadow_opacity", "shadow_dL", "paint")}

    c0, v0 = draw(0.0)
    fam0 = np.array(c0.kinds) == "family"
    assert not np.any(fam0 & (v0["shadow_dL"] > 1.0))  # no family look has a lighter lid
    c1, v1 = draw(0.4)
    kinds = np.array(c1.kinds)
    light = (v1["shadow_dL"] >= LIGHT_LID_DL[0] - 1e-3) & (v1["shadow_opacity"] >= 0.5 - 1e-3)
    styled = v1["paint"] > 0.5
    assert not np.any(light & styled & (kinds == "family"))  # the stylised look keeps its own code
    assert light[~styled & (kinds != "empty")].mean() == pytest.approx(0.4 * 0.9, abs=0.06)  # a few restricted off
    glam_lips = light & (kinds == "family") & np.isclose(c1.codes[:, lips_a], glam.vector()[lips_a])
    assert glam_lips.sum() > 50  # glam's own lips beside a light lid
    lid = [TARGET_KEYS.index(k) for k in ("lid_L_rel", "lid_a", "lid_b")]
    lips = [TARGET_KEYS.index(k) for k in ("lips_L_rel", "lips_a", "lips_b")]
    assert np.isnan(c1.ref_desc[glam_lips][:, lid]).all() and np.isfinite(c1.ref_desc[glam_lips][:, lips]).all()
    assert np.all(c1.ref_sets[light].sum(1) == 0)


def test_pack_roundtrip(pack_file):
    from training.teacher.prepare import N_MASKS, read_pack

    pack = read_pack(pack_file, threads=2)
    fs = pack.faces
    assert len(fs) >= 5 and fs.crops.shape[1:] == (256, 256, 3)
    assert sorted(set(pack.ref_kind)) == ["makeup", "style"]
    assert all("ultralight_imgs" in s for s in fs.sources)
    soft = face_regions(fs.landmarks[0], 256).stack()
    assert np.abs(fs.masks[0].astype(np.float32) / 255 - soft).max() <= 1 / 255 + 1e-6  # PNG: lossless
    assert pack.measure.shape[1] + len(REGION_NAMES) + 1 == N_MASKS
    assert pack.info["looks"] and pack_file.stat().st_size < 40 * 2 ** 20
    # the toon layer is the illustration, inked already: no second set of edge lines beside its own
    from training.teacher.illustrate import illustrate

    assert np.array_equal(fs.painted[:2], illustrate(fs.crops[:2])) and not fs.edges.any()


def _tiny_cfg(**kw):
    base = dict(iterations=3, batch=2, sizes=(64,), threads=1, adv_start=1, cycle_every=1, id_every=1,
                distill_ramp=2, checkpoint_every=1000, teacher=TINY,
                student=StudentConfig(base=8, style_dim=CODE_DIM, mid_blocks=1, fine_film=True, map_hidden=8))
    return TeacherRunConfig(**(base | kw))


@pytest.mark.parametrize("layer", ["f1.", "mapping."])
def test_the_code_mapping_and_fine_modulation_reach_the_output_and_export(tmp_path, layer):
    """The code goes through a mapping network and modulates the full-resolution level too: each of them, from
    zero, alone changes the residual; strength 0 is still the input; the ONNX export matches torch."""
    from exporters.look_pack import write_look_pack

    torch.manual_seed(0)
    s = Student(StudentConfig(base=8, style_dim=CODE_DIM, mid_blocks=1, fine_film=True, map_hidden=8)).eval()
    assert set(s.optional_layers()) == {"f1.", "mapping."}
    for lin in s.optional_layers().values():
        torch.nn.init.zeros_(lin.weight)
    for m in s.modules():
        if isinstance(m, FiLM) and m is not s.f1:
            torch.nn.init.normal_(m.proj.weight, std=0.05)
    torch.nn.init.normal_(s.head.weight, std=0.05)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    code, one = torch.rand(2, CODE_DIM), torch.ones(2, 1)
    with torch.no_grad():
        before = s(x, code, one)
        assert torch.equal(s(x, code, torch.zeros(2, 1)), x)
        torch.nn.init.normal_(s.optional_layers()[layer].weight, std=0.5)
        after = s(x, code, one)
    assert (after - before).abs().max() > 1e-3
    look, report = write_look_pack(s, tmp_path, name="fine", style_code=list(np.linspace(-1, 1, CODE_DIM)),
                                   input_size=64, align_padding=0.25)
    assert report.parity_max_abs < 1e-4


def test_a_run_from_before_the_code_mapping_continues_with_it(tmp_path, pack_file):
    """A checkpoint whose student has no code mapping or fine modulation resumes into one that has them: the same
    student output (the new layers join at zero), the teacher's optimiser state kept, the student's afresh; then it learns, and
    saves and resumes as any run. Any other missing parameter is still an error."""
    from training.teacher.prepare import read_pack

    pack = read_pack(pack_file, threads=2, limit=4)
    coarse = StudentConfig(base=8, style_dim=CODE_DIM, mid_blocks=1)
    old = TeacherTrainer(_tiny_cfg(student=coarse), pack, tmp_path / "r")
    old.train_step()
    old.save()
    new = TeacherTrainer(_tiny_cfg(), pack, tmp_path / "r")
    assert new.resume() and new.step == 1
    x, code, one = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, CODE_DIM), torch.ones(2, 1)
    with torch.no_grad():
        assert torch.equal(old.S(x, code, one), new.S(x, code, one))
    assert not new.opt_s.state and len(new.opt_g.state) == len(old.opt_g.state)
    kept, had = new.opt_g.state_dict()["state"], old.opt_g.state_dict()["state"]
    assert kept.keys() == had.keys() and all(torch.equal(kept[i]["exp_avg"], had[i]["exp_avg"]) for i in had)
    new.train_step()
    assert all(lin.weight.abs().sum() > 0 for lin in new.S.optional_layers().values())  # both learn
    new.save()
    again = TeacherTrainer(_tiny_cfg(), pack, tmp_path / "r")
    assert again.resume() and again.step == 2 and len(again.opt_s.state) == len(new.opt_s.state)
    assert all(torch.equal(a, b) for a, b in zip(again.S.state_dict().values(), new.S.state_dict().values()))
    p = save_checkpoint(tmp_path / "s.safetensors", {"student": Student(coarse)})
    deeper = Student(StudentConfig(base=8, style_dim=CODE_DIM, mid_blocks=2, fine_film=True))  # lacks a mid block too
    with pytest.raises(ModelError, match="does not match"):
        load_checkpoint(p, {"student": deeper}, absent={"student": ("f1.",)})


def test_resume_is_bit_identical(tmp_path, pack_file):
    from training.teacher.prepare import read_pack

    pack = read_pack(pack_file, threads=2, limit=4)
    a = TeacherTrainer(_tiny_cfg(), pack, tmp_path / "a")
    for _ in range(3):
        logs = a.train_step()
    assert {"pair", "desc", "adv", "cycle", "d", "student"} <= set(logs)
    b = TeacherTrainer(_tiny_cfg(), pack, tmp_path / "b")
    b.train_step()
    b.save()
    c = TeacherTrainer(_tiny_cfg(), pack, tmp_path / "b")
    assert c.resume() and c.step == 1
    c.train_step()
    c.train_step()
    for name in ("G", "D", "S"):
        for (k, va), (_, vc) in zip(getattr(a, name).state_dict().items(), getattr(c, name).state_dict().items()):
            assert torch.equal(va, vc), (name, k)


def test_restart_segment_has_its_own_warm_up_and_cosine(tmp_path, pack_file):
    from training.teacher.prepare import read_pack

    pack = read_pack(pack_file, threads=2, limit=4)
    first = TeacherTrainer(_tiny_cfg(iterations=1000), pack, tmp_path / "a")
    cont = TeacherTrainer(_tiny_cfg(iterations=1500, restart_at=1000, restart_scale=0.5), pack, tmp_path / "b")
    peak = 1.0
    assert first.lr_at(peak, 999) == pytest.approx(0.025, abs=1e-3)  # the first segment ended annealed
    assert cont.lr_at(peak, 1000) == pytest.approx(0.5 / 50)  # warm-up from the restart
    assert cont.lr_at(peak, 1049) == pytest.approx(0.5)  # peaks at half
    assert cont.lr_at(peak, 1499) == pytest.approx(0.5 * 0.025, rel=0.05)  # and anneals by the end
    lrs = [cont.lr_at(peak, s) for s in range(1050, 1500)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_student_detail_term_adds_the_laplacian_against_the_teacher(tmp_path, pack_file):
    """Same seed, same batch, same teacher step: the detail term adds to the student's loss."""
    from training.teacher.prepare import read_pack

    pack = read_pack(pack_file, threads=2, limit=4)
    plain = TeacherTrainer(_tiny_cfg(w_student_detail=0.0), pack, tmp_path / "a").train_step()
    detail = TeacherTrainer(_tiny_cfg(w_student_detail=50.0), pack, tmp_path / "b").train_step()
    assert plain["pair"] == detail["pair"]  # the teacher's step is the same
    assert detail["student"] > plain["student"] * 1.0001


def test_motion_loss_charges_a_change_that_does_not_move_with_the_face():
    g = torch.Generator().manual_seed(3)
    img = torch.rand(2, 3, 32, 32, generator=g)
    one = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    moved = L.translate(img, one)  # a whole pixel: the crop moved right, and the second one up
    assert torch.allclose(moved[0, :, :, 1:], img[0, :, :, :-1], atol=1e-5)
    assert torch.allclose(moved[1, :, :-1], img[1, :, 1:], atol=1e-5)
    ramp = torch.arange(32.0).view(1, 1, 1, 32).expand(1, 1, 32, 32)  # twice as large about the centre, then 1 px on
    zoomed = L.translate(ramp, torch.tensor([[1.0, 0.0]]), None, torch.tensor([2.0]))
    assert torch.allclose(zoomed[0, 0, 16, 8:12], torch.tensor([11.25, 11.75, 12.25, 12.75]), atol=1e-4)
    quarter = L.translate(img, torch.zeros(2, 2), torch.full((2,), math.pi / 2))  # a quarter turn
    assert torch.allclose(quarter, torch.rot90(img, -1, (2, 3)), atol=1e-4)
    shift = torch.tensor([[1.5, 0.5], [-1.0, 0.75]])  # sub-pixel, as between two frames
    noise = 2.0 / 255 * torch.randn(img.shape, generator=g)
    # a change that moves with the face costs nothing, and neither does the camera's noise passed through
    assert L.motion_consistency_loss(lambda x: x, img, img, shift, noise).item() == pytest.approx(0.0, abs=1e-5)
    darker = lambda x: 0.8 * x  # noqa: E731 (a shade that goes wherever the face goes)
    assert L.motion_consistency_loss(darker, img, darker(img), shift).item() == pytest.approx(0.0, abs=1e-4)
    turn, scale = torch.tensor([0.03, -0.02]), torch.tensor([1.02, 0.97])  # and as the aligned crop turns and scales
    assert L.motion_consistency_loss(darker, img, darker(img), shift, turn=turn, scale=scale).item() == \
        pytest.approx(0.0, abs=1e-4)
    # a spot that stays where it is while the face moves is flicker; a stronger one costs more
    spot = torch.zeros(1, 3, 32, 32)
    spot[..., 10:14, 10:14] = 1.0
    costs = [L.motion_consistency_loss(lambda x: x + a * spot, img, img + a * spot, shift, noise).item()
             for a in (0.1, 0.3)]
    assert 0.5 < costs[0] < costs[1]
    bias = torch.zeros(1, 3, 32, 32, requires_grad=True)  # and its gradient reaches what drew it
    L.motion_consistency_loss(lambda x: x + bias + 0.2 * spot, img, img + bias + 0.2 * spot, shift).backward()
    assert bias.grad.abs().sum() > 0


@pytest.mark.parametrize("field, weight, teacher_log, student_log, steps, size", [
    ("w_student_desc", 2.0, None, "student_desc", 1, 64),  # the measured colour target, for the student too
    ("w_place", 3.0, "place", "student_place", 1, 64),  # nothing changes where the look does not paint
    ("w_spread", 3.0, "spread", "student_spread", 1, 64),  # colour spread in lips and lid as the renderer does
    ("w_place_peak", 2.0, "place_peak", "student_place_peak", 1, 64),  # a blotch pays as much as a smear
    ("w_student_cheek", 4.0, None, "student_cheek", 1, 64),  # the teacher's blush, for the student
    ("w_renderer_cheek", 4.0, None, "renderer_cheek", 1, 64),  # or the renderer's blush (makeup looks)
    ("w_student_lid", 4.0, None, "student_lid", 1, 64),  # the teacher's eye shadow, for the student
    # the lips' own lines, as the input has them: the student starts as the identity, where this term and its
    # gradient are zero, so both students take the same first step and the term shows on the second (at 128 px:
    # at 64 the lips a pixel in from their edge are too small a region to measure)
    ("w_lip_texture", 4.0, None, "lip_texture", 2, 128),
    # the look follows the moved face: zero for the identity student too, so it shows on the second step
    ("w_student_motion", 2.0, None, "student_motion", 2, 64),
])
def test_a_student_term_adds_exactly_its_weight(tmp_path, pack_file, field, weight, teacher_log, student_log,
                                                steps, size):
    """Same seed, same batch, same teacher step: the term joins the teacher's terms where it holds for the teacher
    too, and the student's loss grows by exactly its weighted value."""
    from training.teacher.prepare import read_pack

    pack = read_pack(pack_file, threads=2, limit=4)
    plain_t, on_t = (TeacherTrainer(_tiny_cfg(**{field: w, "sizes": (size,)}), pack, tmp_path / d)
                     for w, d in ((0.0, "a"), (weight, "b")))
    for _ in range(steps):
        plain, on = plain_t.train_step(), on_t.train_step()
    assert plain["pair"] == on["pair"] and student_log not in plain
    if teacher_log is not None:
        assert teacher_log not in plain and on[teacher_log] > 0
    assert on[student_log] > 0
    assert on["student"] == pytest.approx(plain["student"] + weight * on[student_log], rel=1e-4)


def test_a_student_only_segment_leaves_the_teacher_as_it_was(tmp_path, pack_file):
    """A distillation segment: the student learns from the same teacher output as in a full step, while the
    teacher and the discriminators keep their weights and no teacher term is computed."""
    from training.teacher.prepare import read_pack

    pack = read_pack(pack_file, threads=2, limit=4)
    full = TeacherTrainer(_tiny_cfg(), pack, tmp_path / "a")
    distil = TeacherTrainer(_tiny_cfg(student_only=True), pack, tmp_path / "b")
    before = {n: {k: v.clone() for k, v in getattr(distil, n).state_dict().items()} for n in ("G", "D", "S")}
    logs_full, logs = full.train_step(), distil.train_step()
    assert "pair" in logs_full and not {"pair", "desc", "adv", "d"} & set(logs)
    # the first step's teacher output is the same (the full step updates the teacher after using it)
    assert logs["student"] == pytest.approx(logs_full["student"], rel=1e-5)
    for name in ("G", "D"):
        assert all(torch.equal(v, getattr(distil, name).state_dict()[k]) for k, v in before[name].items()), name
    assert any(not torch.equal(v, distil.S.state_dict()[k]) for k, v in before["S"].items())
    assert all(p.grad is None for p in distil.G.parameters())


def test_checkpoint_of_another_size_is_a_model_error(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(ModelError, match="not a valid"):
        load_checkpoint(p, {"teacher": TeacherG(TINY)})
    good = save_checkpoint(tmp_path / "g.safetensors", {"teacher": TeacherG(TINY)})
    with pytest.raises(ModelError, match="does not match"):
        load_checkpoint(good, {"teacher": TeacherG(TeacherConfig(base=16, mid_blocks=1, cond_dim=16))})


def test_no_faces_is_an_input_error(tmp_path):
    import cv2

    (tmp_path / "blank").mkdir()
    cv2.imwrite(str(tmp_path / "blank" / "a.png"), np.full((64, 64, 3), 128, np.uint8))
    with pytest.raises(InputError, match="no faces"):
        prepare_crops([tmp_path / "blank"], Aligner(64))


def _teacher_cli(*args):
    return subprocess.run([sys.executable, "-m", "training.teacher", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_gpu_run_on_the_cpu_with_a_tiny_budget(tmp_path, pack_file):
    """The prepared GPU script, end to end on the CPU: train, checkpoint, distilled student, summary JSON."""
    out = tmp_path / "gpu"
    r = _teacher_cli("gpu-run", "--data-file", str(pack_file), "--out", str(out), "--device", "cpu",
                     "--max-seconds", "5", "--batch", "2", "--limit", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((out / "gpu_run.json").read_text())
    assert summary["steps"] >= 1 and summary["hardware"]["torch"] == torch.__version__
    assert summary["wall_seconds"] > 0 and summary["faces"] == 4
    from training.makeup.publish import load_student

    s, meta = load_student(out)  # as `publish` reads it: the architecture the run trained, from its own config
    assert s.cfg == TeacherRunConfig().student and s.mapping is not None and s.f1 is not None
    assert meta["step"] == summary["steps"] and meta["publish_extra"]["teacher"]["mac_ratio"]["128"] >= 20
    # the last fifth of the time: the student alone (no teacher terms logged on those steps)
    history = load_checkpoint(out / "teacher.safetensors", {}, restore_rng=False)["history"]
    alone = [h for h in history if "pair" not in h]
    assert summary["distil_steps"] >= 1 and len(alone) == summary["distil_steps"] and "pair" in history[0]
    assert all(h["step"] > summary["distil_from_step"] for h in alone)
    # the distillation phase has the recipe's student-only terms; the teacher's phase its own
    assert summary["config"]["w_student_lid"] == 0.0 and summary["config"]["w_student_desc"] == 0.0
    assert summary["distil_config"]["student_only"] and summary["distil_config"]["w_student_lid"] == 3.0
    assert summary["distil_config"]["w_student_desc"] == 2.0 and summary["distil_config"]["w_paint_pair"] == 10.0
    from training.checkpoint import read_meta

    assert read_meta(out / "teacher.safetensors")["config"] == summary["distil_config"]
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.isfinite(s(x, torch.from_numpy(LookCode().vector())[None], torch.ones(1, 1))).all()


def test_cli_errors_are_one_line(tmp_path):
    for args, text in ((("publish", "--run", str(tmp_path / "none")), "not a teacher run"),
                       (("gpu-run", "--data-file", str(tmp_path / "none.npz")), "not found"),
                       (("train", "--run", str(tmp_path)), "not found")):
        r = _teacher_cli(*args)
        assert r.returncode != 0 and "Traceback" not in r.stderr + r.stdout, r.stderr
        assert text in r.stdout + r.stderr
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    r = _teacher_cli("train", "--run", str(tmp_path), "--data-file", str(bad))
    assert r.returncode != 0 and "Traceback" not in r.stderr + r.stdout and "packed data file" in r.stdout + r.stderr


def test_cli_student_only_segment_continues_a_trained_run(tmp_path, pack_file):
    """`train --student-only` needs a teacher to learn from, then continues its run with the teacher untouched."""
    cfg = TeacherRunConfig()  # the CLI's network sizes; only the teacher and the student are read back

    def networks() -> dict:
        return {"teacher": TeacherG(cfg.teacher), "student": Student(cfg.student)}

    run = tmp_path / "run"
    r = _teacher_cli("train", "--run", str(run), "--data-file", str(pack_file), "--iterations", "2", "--student-only")
    assert r.returncode != 0 and "Traceback" not in r.stderr + r.stdout and "trained teacher" in r.stdout + r.stderr
    args = ("train", "--run", str(run), "--data-file", str(pack_file), "--batch", "2", "--gpu-size-share", "0")
    r = _teacher_cli(*args, "--iterations", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    trained = networks()
    load_checkpoint(run / "teacher.safetensors", trained, restore_rng=False)
    r = _teacher_cli(*args, "--iterations", "3", "--restart-at", "1", "--student-only")
    assert r.returncode == 0 and "at step 3" in r.stdout, r.stdout + r.stderr
    after = networks()
    meta = load_checkpoint(run / "teacher.safetensors", after, restore_rng=False)
    assert meta["step"] == 3
    g0, g1, s0, s1 = (n[k].state_dict() for k in ("teacher", "student") for n in (trained, after))
    assert all(torch.equal(v, g1[k]) for k, v in g0.items())
    assert not all(torch.equal(v, s1[k]) for k, v in s0.items())


def test_the_teacher_s_stylised_output_is_measured_on_the_head(tmp_path, pack_file, faces):
    """Its published pack lands on the head (composite: head), so the teacher is measured the same way."""
    from livefilter.composite.masks import LandmarkMasker
    from training.teacher.measure import TeacherStyler
    from training.teacher.prepare import read_pack

    tr = TeacherTrainer(_tiny_cfg(), read_pack(pack_file, threads=2, limit=4), tmp_path)
    tr.save()
    styler = TeacherStyler(tmp_path)  # untrained: it changes every pixel a little
    crops, marks = faces.crops[:2], faces.landmarks[:2]
    eye = np.array([[1, 0, 0], [0, 1, 0]], np.float64)
    outside = np.stack([LandmarkMasker(256).face(p, eye).copy() for p in marks]) == 0
    for code, reaches in ((LookCode(paint=1.0), True), (LookCode(lips_opacity=1.0, lips_a=40.0), False)):
        out = styler(crops, marks, code.vector(), crops[:0], marks[:0])
        moved = np.abs(out.astype(int) - crops).max(-1)[outside]
        assert (moved.max() > 0) == reaches


def test_train_options_reach_the_run_config():
    """The CLI's recipe (the toon-heavy mix, the eye fields drawn apart, the student's detail term, the colour
    target's weight) is what the trainer gets, and a segment restarted from a finished run keeps its terms on."""
    from training.teacher.__main__ import _config

    cfg = _config(4800, 4, 0, 2, "cpu", 0.25)
    assert (cfg.paint_share, cfg.w_paint_pair, cfg.eye_share, cfg.w_student_detail, cfg.w_desc,
            cfg.w_student_desc, cfg.w_place, cfg.w_spread, cfg.w_cheek_colour, cfg.w_student_cheek,
            cfg.photo_dropout, cfg.w_place_peak, cfg.w_student_lid, cfg.student.fine_film,
            cfg.student.map_hidden, cfg.cross_share) == (0.3, 5.0, 0.3, 0.5, 0.3, 0.0, 1.0, 2.0, 3.0, 0.0, 0.3, 0.3,
                                                         0.0, True, 64, 0.3)
    assert cfg.sizes == (128, 128, 128, 256) and cfg.adv_start == 1600 and cfg.distill_ramp == 1200
    seg = _config(6100, 4, 0, 2, "cpu", 0.25, restart_at=4800, desc_weight=1.0, eye_share=0.0, student_detail=0.0)
    assert seg.w_desc == 1.0 and seg.eye_share == 0.0 and seg.w_student_detail == 0.0 and seg.restart_at == 4800
    assert seg.adv_start < seg.restart_at and seg.distill_ramp < seg.restart_at
    assert _config(100, 4, 0, 2, "cpu", 0.25, cross_share=0.4).cross_share == 0.4
    assert cfg.light_share == 0.25 and _config(100, 4, 0, 2, "cpu", 0.25, light_share=0.0).light_share == 0.0
    assert cfg.w_lip_texture == 0.0 and _config(100, 4, 0, 2, "cpu", 0.25, lip_texture=2.0).w_lip_texture == 2.0
    assert cfg.w_renderer_cheek == 15.0  # the student's blush from the renderer, not the teacher
    assert _config(100, 4, 0, 2, "cpu", 0.25, renderer_cheek=0.0).w_renderer_cheek == 0.0
    assert cfg.w_student_motion == 0.0 and _config(100, 4, 0, 2, "cpu", 0.25, student_motion=1.5).w_student_motion == 1.5


def test_the_recipe_schedule_is_usable_and_sets_only_train_options():
    """The recorded chain: every weight a segment sets is one of `train`'s options within its bounds, the
    teacher comes first, and a run's step says which segment it is in (and where that segment restarted)."""
    import inspect

    from training.teacher.__main__ import _config
    from training.teacher.schedule import RECIPE, WEIGHTS, check, position

    check(RECIPE)
    assert set(WEIGHTS) <= set(inspect.signature(_config).parameters)
    assert not RECIPE[0].student_only and RECIPE[-1].student_only
    assert position(0) == (0, 0) and position(RECIPE[0].until - 1) == (0, 0)
    assert position(RECIPE[0].until) == (1, RECIPE[0].until)
    assert position(RECIPE[-1].until) is None and position(10 ** 7) is None
    last = RECIPE[-1]
    cfg = _config(last.until, 4, 0, 2, "cpu", 0.25, restart_at=RECIPE[-2].until, student_only=True, **last.options())
    assert cfg.student_only and cfg.restart_at == RECIPE[-2].until and cfg.w_student_lid == 3.0
    assert cfg.w_student_desc == 2.0 and cfg.w_paint_pair == 10.0 and cfg.w_renderer_cheek == 15.0


@pytest.mark.parametrize("items, text", [
    ([{"until": 2, "student_only": True}], "first segment must train the teacher"),
    ([{"until": 5}, {"until": 5}], "must increase"),
    ([{"until": 5, "weights": {"lr": 1.0}}], "unknown segment weight"),
    ([{"until": 5, "weights": {"desc_weight": float("nan")}}], "must be a number"),
    ([{"until": 5, "weights": {"paint_share": 0.9}}], "must be a number in [0, 0.5]"),
    ([{"until": "5"}], "integer until"),
    ([{"until": 5, "extra": 1}], "must be an object with"),
    ({"until": 5}, "JSON list"),
    ([], "1 to 64 segments"),
])
def test_a_bad_schedule_is_refused_with_its_reason(tmp_path, items, text):
    from livefilter.errors import LivefilterError
    from training.teacher.schedule import read_schedule

    f = tmp_path / "s.json"
    f.write_text(json.dumps(items))
    with pytest.raises(LivefilterError, match=re.escape(text)):
        read_schedule(f)


def test_rebuild_runs_its_schedule_and_continues_after_a_stop(tmp_path, pack_file):
    """`rebuild` through its entry point: a time budget stops it inside the schedule, the same command goes on
    from the checkpoint, each segment restarted where the last one ended, the last one the student alone."""
    sched = tmp_path / "schedule.json"
    sched.write_text(json.dumps([{"until": 1, "about": "[bold]first[/]"},
                                 {"until": 2, "weights": {"desc_weight": 2.0}},
                                 {"until": 3, "student_only": True, "weights": {"student_lid": 3.0}}]))
    run = tmp_path / "run"
    args = ("rebuild", "--run", str(run), "--data-file", str(pack_file), "--schedule", str(sched))
    r = _teacher_cli(*args, "--max-seconds", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "segment 1/3" in r.stdout and "[bold]first[/]" in r.stdout and "complete" not in r.stdout
    meta = load_checkpoint(run / "teacher.safetensors", {}, restore_rng=False)
    assert 1 <= meta["step"] < 3
    r = _teacher_cli(*args)
    assert r.returncode == 0 and "at step 3 (the schedule is complete)" in r.stdout, r.stdout + r.stderr
    meta = load_checkpoint(run / "teacher.safetensors", {}, restore_rng=False)
    assert [h["step"] for h in meta["history"]] == [1, 2, 3]
    assert ["pair" in h for h in meta["history"]] == [True, True, False]  # the last step: the student alone
    assert meta["config"]["student_only"] and meta["config"]["restart_at"] == 2
    assert meta["config"]["w_student_lid"] == 3.0 and meta["config"]["w_desc"] == 0.3  # the segment's own weights
    r = _teacher_cli(*args)
    assert r.returncode == 0 and "nothing to do" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"until\": 0}]")
    r = _teacher_cli("rebuild", "--run", str(run), "--schedule", str(bad))
    assert r.returncode != 0 and "Traceback" not in r.stdout + r.stderr and "must increase" in r.stdout + r.stderr


def test_read_meta_is_the_checkpoint_s_meta_without_its_tensors(tmp_path):
    from training.checkpoint import read_meta

    p = save_checkpoint(tmp_path / "c.safetensors", {"s": torch.nn.Linear(2, 2)}, meta={"step": 41, "seconds": 2.5})
    assert read_meta(p) == load_checkpoint(p, {}, restore_rng=False) == {"step": 41, "seconds": 2.5}
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(ModelError, match="not a valid livefilter checkpoint"):
        read_meta(p)
    with pytest.raises(ModelError, match="not found"):
        read_meta(tmp_path / "none.safetensors")


def test_reconfigure_takes_a_segment_s_terms_and_draws_and_keeps_its_networks(tmp_path, pack_file):
    from training.teacher.prepare import read_pack

    tr = TeacherTrainer(_tiny_cfg(), read_pack(pack_file, threads=2, limit=4), tmp_path)
    s0, g0 = tr.S, tr.G
    tr.reconfigure(_tiny_cfg(paint_share=0.5, w_student_lid=3.0))
    assert tr.cfg.w_student_lid == 3.0 and tr.sampler.paint_share == 0.5 and tr.S is s0 and tr.G is g0
    with pytest.raises(SettingError, match="networks"):
        tr.reconfigure(_tiny_cfg(teacher=TeacherConfig(base=16, mid_blocks=1, cond_dim=16, ref_dim=8, ref_base=8)))
