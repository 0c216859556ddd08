"""Multiply-accumulate count of a model, with forward hooks (no external profiler)."""

from __future__ import annotations

import torch
from torch import nn


def count_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    total = 0

    def conv_hook(m: nn.Conv2d, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += out.numel() // out.shape[0] * k

    def linear_hook(m: nn.Linear, inp, out):
        nonlocal total
        total += m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return int(total)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
