"""Landmark face masks: never on background, feathered inwards, used by the pipeline."""

import cv2
import numpy as np

from conftest import read_rgb, shared_path
from livefilter.align.host import Aligner
from livefilter.detect import create_detector
from livefilter.composite.masks import LandmarkMasker


def test_mask_stays_inside_the_face_oval_on_real_faces():
    det = create_detector()
    masker = LandmarkMasker(128)
    al = Aligner(128)
    checked = 0
    for name in ("img1.jpg", "img2.jpg", "img11.jpg", "img17.jpg", "img20.jpg"):
        img = read_rgb(shared_path("faces", "deepface_tests", name))
        faces = det.detect(img)
        if not faces:
            continue
        f = faces[0]
        m = al.transform(f.keypoints)
        mask = masker.face(f.landmarks, m)
        crop_pts = f.landmarks @ m[:, :2].T + m[:, 2]
        hull = np.zeros((128, 128), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(crop_pts).astype(np.int32)), 1)
        assert mask.max() == 1.0
        ring = cv2.dilate(hull, np.ones((3, 3), np.uint8))  # 1 px for rasterisation differences
        assert (mask[ring == 0] == 0).all()  # no background / hair outside the oval
        inside = cv2.erode(hull, np.ones((19, 19), np.uint8))  # beyond the FACE_FEATHER * 128 px ramp
        assert (mask[inside == 1] > 0.99).mean() > 0.95  # the face itself gets the full look
        checked += 1
    assert checked >= 4


def test_regions_are_inside_the_face():
    img = read_rgb(shared_path("faces", "deepface_tests", "img1.jpg"))
    f = create_detector().detect(img)[0]
    masker = LandmarkMasker(256)
    m = Aligner(256).transform(f.keypoints)
    pts = f.landmarks @ m[:, :2].T + m[:, 2]
    face = masker.region(pts, "face").copy()
    for region in ("lips", "left_eye", "right_eye", "left_brow", "right_brow"):
        r = masker.region(pts, region).copy()
        assert r.sum() > 10 and (r & face).sum() >= 0.9 * r.sum()


def _face_and_crop(path, size=128):
    img = read_rgb(path)
    f = create_detector().detect(img)[0]
    al = Aligner(size)
    m = al.transform(f.keypoints)
    return img, f, m, al.warp(img, m[None])[0]


def test_unoccluded_faces_have_no_occluder_pixels():
    from livefilter.composite.masks import occluded_pixels

    masker = LandmarkMasker(128)
    for name in ("img1.jpg", "img2.jpg", "img11.jpg", "img17.jpg"):
        _, f, m, crop = _face_and_crop(shared_path("faces", "deepface_tests", name))
        pts = f.landmarks @ m[:, :2].T + m[:, 2]
        face = masker.region(pts, "face").astype(bool)
        assert occluded_pixels(crop, pts, masker)[face].mean() < 0.03


def test_a_constructed_occluder_keeps_its_pixels():
    """A blue patch over the mouth and chin of a real face: the look must not touch it."""
    from livefilter.composite.blend import Blender

    img, f, m, _ = _face_and_crop(shared_path("faces", "deepface_tests", "img1.jpg"))
    lo = f.landmarks[[61, 291, 152]]
    x0, x1 = int(lo[:, 0].min()) - 10, int(lo[:, 0].max()) + 10
    y0, y1 = int(lo[:, 1].min()) - 8, int(lo[:, 1].max())
    occluded = img.copy()
    occluded[y0:y1, x0:x1] = (40, 80, 200)
    al = Aligner(128)
    crop = al.warp(occluded, m[None])
    styled = np.clip(crop.astype(int) + np.array([50, -20, -20]), 0, 255).astype(np.uint8)
    mask = LandmarkMasker(128).face(f.landmarks, m, 0, crop[0])
    out = occluded.copy()
    Blender(al.template, 128).blend(out, crop, styled, m[None], np.ones(1), [mask])
    patch = np.abs(out[y0 + 3:y1 - 3, x0 + 3:x1 - 3].astype(int) - occluded[y0 + 3:y1 - 3, x0 + 3:x1 - 3])
    assert (patch.max(-1) <= 2).mean() > 0.97  # the occluder keeps its own pixels
    cheek = np.abs(out.astype(int) - occluded).max(-1)[int(f.landmarks[50, 1]) - 3:int(f.landmarks[50, 1]) + 3]
    assert cheek.max() > 10  # while the visible skin gets the look
    # an illustration (the head's mask) restyles what is in front of the face too
    from livefilter.composite.masks import head_masker

    out = occluded.copy()
    Blender(al.template, 128).blend(out, crop, styled, m[None], np.ones(1), [head_masker(128).face(f.landmarks, m, 0, crop[0])])
    patch = np.abs(out[y0 + 3:y1 - 3, x0 + 3:x1 - 3].astype(int) - occluded[y0 + 3:y1 - 3, x0 + 3:x1 - 3])
    assert (patch.max(-1) > 10).mean() > 0.9


def test_real_masked_faces_are_partly_protected():
    """Faces wearing masks (shared/data/faces/ultralight_masked_face): part of each mask is found."""
    import glob

    from livefilter.composite.masks import occluded_pixels

    masker = LandmarkMasker(128)
    det = create_detector()
    al = Aligner(128)
    fractions = []
    for p in sorted(glob.glob(str(shared_path("faces", "ultralight_masked_face") / "*"))):
        img = read_rgb(p)
        faces = det.detect(img)
        if not faces:
            continue
        m = al.transform(faces[0].keypoints)
        crop = al.warp(img, m[None])[0]
        pts = faces[0].landmarks @ m[:, :2].T + m[:, 2]
        face = masker.region(pts, "face").astype(bool)
        fractions.append(occluded_pixels(crop, pts, masker)[face].mean())
    print("occluded fraction of the face oval per masked face:", [round(x, 2) for x in fractions])
    assert len(fractions) >= 6 and np.mean(fractions) > 0.15


def test_the_whole_lips_take_the_look_on_lighter_and_darker_skin():
    """The lips get the full look: not faded by the oval's feather, not mistaken for an occluder when
    they are no redder than the skin (as on many darker skin tones)."""
    from livefilter.composite.regions import MEASURE_NAMES, batch_regions

    det = create_detector()
    masker = LandmarkMasker(128)
    al = Aligner(128)
    coverage = {}
    for folder, name in (("face_recognition_examples", "obama2.jpg"), ("face_recognition_examples", "obama.jpg"),
                         ("face_recognition_examples", "biden.jpg"), ("deepface_tests", "img1.jpg")):
        img = read_rgb(shared_path("faces", folder, name))
        f = det.detect(img)[0]
        m = al.transform(f.keypoints)
        crop = al.warp(img, m[None])[0]
        pts = (f.landmarks @ m[:, :2].T + m[:, 2]).astype(np.float32)
        lips = batch_regions(pts[None], 128)[1][0, MEASURE_NAMES.index("lips")] > 0
        coverage[name] = float(masker.face(f.landmarks, m, 0, crop)[lips].mean())
    assert all(v > 0.9 for v in coverage.values()), coverage


def test_a_stylised_look_s_mask_covers_the_head_and_fades_at_the_crop_border():
    from livefilter.composite.masks import CROP_MARGIN, HEAD_REACH, head_masker, scaled_about_centre
    from livefilter.detect.topology import FACE_OVAL

    checked = 0
    for name in ("img1.jpg", "img2.jpg", "img11.jpg", "img17.jpg"):
        img = read_rgb(shared_path("faces", "deepface_tests", name))
        faces = create_detector().detect(img)
        if not faces:
            continue
        f = faces[0]
        m = Aligner(128, 0.25).transform(f.keypoints)
        pts = f.landmarks @ m[:, :2].T + m[:, 2]
        face = LandmarkMasker(128).face(f.landmarks, m).copy()
        head = head_masker(128).face(f.landmarks, m)
        assert (head[face > 0.5] > 0.99).mean() > 0.97  # the whole face takes the look
        hull = np.zeros((128, 128), np.uint8)
        oval = scaled_about_centre(pts[list(FACE_OVAL)], HEAD_REACH)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(oval).astype(np.int32)), 1)
        assert (head[cv2.dilate(hull, np.ones((3, 3), np.uint8)) == 0] == 0).all()  # never beyond the head
        # the hair above the forehead (landmark 10) is restyled, the face mask leaves it alone
        top, chin = pts[10], pts[152]
        above = np.round(top + 0.12 * (top - chin)).astype(int)
        if above[1] >= 4:
            assert head[above[1], above[0]] > 0.3 and face[above[1], above[0]] == 0
        edge = int(CROP_MARGIN * 128)
        assert head[0].max() == 0 and head[:, 0].max() == 0 and head[-1].max() == 0 and head[:, -1].max() == 0
        assert head[:edge // 2].max() <= 0.51  # a ramp, not a hard edge, where the head is larger than the crop
        checked += 1
    assert checked >= 3


def test_the_look_decides_the_runtime_mask():
    from dataclasses import replace

    from livefilter.composite.masks import HEAD_REACH
    from livefilter.looks.registry import LookRegistry
    from livefilter.pipeline.host import LookRuntime

    class _Translator:
        strength_in_network = True

    looks = LookRegistry()
    for name in ("glam", "natural", "toon"):  # the shipped packs composite under the face oval
        assert LookRuntime(looks.get(name), _Translator(), 1).masker.reach == 1.0
    head = replace(looks.get("toon"), composite="head")  # a pack trained on the whole crop
    assert LookRuntime(head, _Translator(), 1).masker.reach == HEAD_REACH
    # without placement (the bench's comparison) the residual lands under the face oval
    assert LookRuntime(head, _Translator(), 1, placement=False).masker.reach == 1.0


def test_a_look_pack_declares_its_composite_and_a_bad_one_is_refused(tmp_path):
    import json
    import shutil

    import pytest

    from livefilter.errors import LookError
    from livefilter.looks.pack import load_look
    from livefilter.looks.registry import PACKAGED_LOOKS_DIR

    shutil.copytree(PACKAGED_LOOKS_DIR / "toon", tmp_path / "toon")
    manifest = tmp_path / "toon" / "look.json"
    data = json.loads(manifest.read_text())
    assert load_look(tmp_path / "toon").composite == "face"  # an older pack: the face oval
    data["composite"] = "head"
    manifest.write_text(json.dumps(data))
    look = load_look(tmp_path / "toon")
    assert look.composite == "head" and json.loads(json.dumps(look.manifest()))["composite"] == "head"
    data["composite"] = "everything"
    manifest.write_text(json.dumps(data))
    with pytest.raises(LookError, match="composite"):
        load_look(tmp_path / "toon")
