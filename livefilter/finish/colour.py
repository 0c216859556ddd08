"""The colour space the skin finish works in, shared by its host and device versions."""

import numpy as np

# RGB -> (Y, Cb, Cr) rows (BT.601, offsets left out: only differences and spreads are used)
YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
YCC_INV = np.linalg.inv(YCC).astype(np.float32)
