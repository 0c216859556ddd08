"""The FaceNet identity measure on real photos: one person vs two people."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_path
from livefilter.align.host import Aligner

identity = pytest.importorskip("training.eval.identity")
if not identity.available():
    pytest.skip(f"identity model unavailable: {identity.unavailable_reason()}", allow_module_level=True)


def test_the_converted_graph_gives_what_opencvs_tensorflow_importer_gave():
    """facenet_reference.npz: embeddings of OpenCV 5.0's readNetFromTensorflow on a fixed random input."""
    ref = np.load(identity.REFERENCE)
    x = np.random.default_rng(int(ref["seed"])).standard_normal(tuple(ref["shape"])).astype(np.float32)
    e = identity.embed_inputs(x)
    assert e.shape == ref["embeddings"].shape
    assert np.abs(e - ref["embeddings"]).max() < 1e-4
    # a batch gives each face what it gets alone (the frozen graph's batch-1 reshapes were made dynamic)
    assert np.abs(identity.embed_inputs(x[1:2]) - e[1:2]).max() < 1e-5


def test_the_model_runs_without_opencvs_tensorflow_importer(monkeypatch):
    import cv2

    monkeypatch.delattr(cv2.dnn, "readNetFromTensorflow", raising=False)
    obama = _crops("obama.jpg")
    assert identity.embed(obama).shape == (1, 512)


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
