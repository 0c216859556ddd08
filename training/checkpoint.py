"""Checkpoints in safetensors only (never pickle): weights, optimiser state, RNG state, JSON meta."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from livefilter.errors import ModelError


def _optim_tensors(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{name}.{pid}.{k}"] = v.contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_checkpoint(
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    meta: dict | None = None,
    generator: torch.Generator | None = None,
) -> Path:
    tensors: dict[str, torch.Tensor] = {}
    info: dict = {"meta": meta or {}, "optimizers": {}}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"model.{name}.{k}"] = v.detach().contiguous().cpu()
    for name, opt in (optimizers or {}).items():
        t, i = _optim_tensors(name, opt)
        tensors.update({k: v.cpu() for k, v in t.items()})
        info["optimizers"][name] = i
    if generator is not None:
        tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata={"livefilter": json.dumps(info)})
    tmp.replace(path)  # atomic: an interrupted save never leaves a half-written checkpoint
    return path


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            info = json.loads((f.metadata() or {}).get("livefilter", "{}"))
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
        raise ModelError(f"{path} is not a valid livefilter checkpoint ({type(e).__name__})") from None
    return tensors, info


def read_meta(path: Path) -> dict:
    """The checkpoint's JSON meta (step, seconds, config, history) from its header, no tensors read."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            return json.loads((f.metadata() or {}).get("livefilter", "{}")).get("meta", {})
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
        raise ModelError(f"{path} is not a valid livefilter checkpoint ({type(e).__name__})") from None


def has_keys(path: Path, prefix: str | tuple[str, ...]) -> bool:
    """Whether the checkpoint holds any tensor whose name starts with ``prefix`` (or one of them; header only)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return any(k.startswith(prefix) for k in f.keys())
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{path} is not a valid livefilter checkpoint ({type(e).__name__})") from None


def load_checkpoint(
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    generator: torch.Generator | None = None,
    restore_rng: bool = True,
    absent: dict[str, tuple[str, ...]] | None = None,
) -> dict:
    """Restore into existing modules/optimisers; returns the meta dict.

    ``absent`` names, per module, the prefixes of parameters a checkpoint may lack (a layer added since, which then
    keeps the value it has); any other difference is an error.
    """
    tensors, info = read_checkpoint(path)
    for name, m in modules.items():
        prefix = f"model.{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        optional = (absent or {}).get(name)
        if optional:
            state = {k: v for k, v in m.state_dict().items() if k.startswith(optional)} | state
        try:
            m.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ModelError(f"{path}: '{name}' does not match this model ({str(e).splitlines()[0]})") from None
    for name, opt in (optimizers or {}).items():
        oi = info.get("optimizers", {}).get(name)
        if oi is None:
            raise ModelError(f"{path}: no optimiser state for '{name}'")
        state: dict = {}
        prefix = f"optim.{name}."
        for k, v in tensors.items():
            if k.startswith(prefix):
                pid, key = k[len(prefix):].split(".", 1)
                state.setdefault(int(pid), {})[key] = v
        for k, v in oi["scalars"].items():
            pid, key = k.split(".", 1)
            state.setdefault(int(pid), {})[key] = v
        opt.load_state_dict({"state": state, "param_groups": oi["param_groups"]})
    if restore_rng:
        if generator is not None and "rng.generator" in tensors:
            generator.set_state(tensors["rng.generator"])
        if "rng.torch" in tensors:
            torch.set_rng_state(tensors["rng.torch"])
    return info.get("meta", {})
