"""Compositing styled crops back into the frame: blend, face masks, makeup regions and placement (host modules beside their `device_*` twins, the device crop stage and fused kernels)."""
