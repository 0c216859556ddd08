"""Face alignment: the canonical template, the similarity fit and the crop warp (host `host.py`, device `device.py`)."""
