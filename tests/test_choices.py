"""Each choice and limit is defined once (livefilter/settings/choices.py): the stages' validators agree."""

import pytest

from livefilter.settings.choices import DETECTORS, MAX_FACES, ONLY_MODES
from livefilter.detect import BACKENDS, TrackerConfig
from livefilter.errors import SettingError
from livefilter.pipeline.session import PipelineSettings


def test_the_tracker_and_the_pipeline_share_one_face_limit_and_one_set_of_modes():
    for mode in ONLY_MODES:
        TrackerConfig(max_faces=MAX_FACES, only=mode).validate()
        PipelineSettings(max_faces=MAX_FACES, only=mode).validate()
    for bad in (TrackerConfig(max_faces=MAX_FACES + 1), PipelineSettings(max_faces=MAX_FACES + 1)):
        with pytest.raises(SettingError, match=str(MAX_FACES)):
            bad.validate()
    assert BACKENDS == DETECTORS
    for detector in DETECTORS:
        PipelineSettings(detector=detector).validate()
    with pytest.raises(SettingError):
        PipelineSettings(only="leftmost").validate()
