"""livefilter inside OBS Studio, through OBS's own extension points.

- :mod:`livefilter.obs.link`: an obs-websocket (protocol v5) connection that follows OBS's program
  scene and reconnects with back-off (``livefilter run --obs ws://127.0.0.1:4455``);
- :mod:`livefilter.obs.scenes`: scene -> look switching and pausing from the user's mapping
  (``livefilter obs map``);
- :mod:`livefilter.obs.sync`: sets the measured added latency as a microphone's audio Sync Offset;
- :mod:`livefilter.obs.dock`: the Custom Browser Dock URL and steps (``livefilter obs dock``);
- ``scripts/livefilter_obs.py``: an OBS Python script with hotkeys (``livefilter obs script``).
"""

from livefilter.obs.link import ObsLink
from livefilter.obs.scenes import SceneLooks
from livefilter.obs.target import ObsTarget

__all__ = ["ObsLink", "ObsTarget", "SceneLooks"]
