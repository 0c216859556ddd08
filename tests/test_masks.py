"""Landmark face masks: never on background, feathered inwards, used by the pipeline."""

import cv2
import numpy as np

from conftest import read_rgb, shared_path
from livefilter.align import Aligner
from livefilter.detect import create_detector
from livefilter.masks import LandmarkMasker


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
        inside = cv2.erode(hull, np.ones((25, 25), np.uint8))
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
