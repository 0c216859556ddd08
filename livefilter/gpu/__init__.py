"""The device path: upload once, warp / translate / blend / convert on the GPU, download once.

Everything here is torch on a device; on a CPU device it runs the same math (that is how its
parity with the NumPy path is tested on machines without a GPU).
"""
