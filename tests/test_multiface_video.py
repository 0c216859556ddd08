"""Multi-face tracking on the two-person video: stable identities, ordering, per-face control."""


from conftest import decode_range
from livefilter.detect import TrackerConfig, create_tracker


def _frames(start, stop):
    return decode_range(("video", "deepfacelive", "Ben_Stiller_Owen_Wilson.mp4"), start, stop)


def test_two_people_get_two_stable_tracks():
    frames = _frames(140, 200)
    tracker = create_tracker(TrackerConfig(detect_every=5, max_faces=4, fps=30))
    seen_two, main_ids = 0, []
    for f in frames:
        faces = tracker.update(f)
        if len(faces) >= 2:
            seen_two += 1
        main = max(faces, key=lambda x: x.area)
        main_ids.append(main.track_id)
        ids = [x.track_id for x in faces]
        assert len(ids) == len(set(ids))  # no duplicate identities in a frame
    assert seen_two >= 5  # the second, smaller and blurred face is found when it faces the camera
    # the main face keeps one identity across the whole segment
    assert len(set(main_ids)) == 1


def test_only_largest_keeps_one_face():
    tracker = create_tracker(TrackerConfig(detect_every=5, only="largest", fps=30))
    for f in _frames(144, 160):
        faces = tracker.update(f)
        assert len(faces) <= 1
