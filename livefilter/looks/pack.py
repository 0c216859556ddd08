"""Look manifest, loading and validation.

A look is data only: JSON, an ONNX graph and a JPEG. Nothing in a pack is ever executed or
unpickled, and every path a manifest names must stay inside the pack.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from livefilter.errors import LookError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
MAX_MODEL_BYTES = 256 << 20
MAX_PREVIEW_BYTES = 8 << 20
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class ColorEdits:
    """Post-edits applied to the stylised face; each in [-1, 1], 0 = unchanged."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    warmth: float = 0.0

    def validate(self) -> "ColorEdits":
        for k, v in asdict(self).items():
            if not isinstance(v, (int, float)) or not -1.0 <= float(v) <= 1.0:
                raise LookError(f"colour edit '{k}' must be a number in [-1, 1], got {v!r}")
        return self

    @property
    def is_identity(self) -> bool:
        return not any(asdict(self).values())


@dataclass
class Normalisation:
    """Input x = (rgb/255 - mean) / std; output rgb = (y * std + mean) * 255."""

    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


@dataclass
class Look:
    name: str
    root: Path
    model: str = "student.onnx"
    title: str = ""
    description: str = ""
    author: str = ""
    licence: str = ""
    version: str = "1.0"
    input_size: int = 256
    align_padding: float = 0.25
    normalisation: Normalisation = field(default_factory=Normalisation)
    input_names: dict[str, str | None] = field(
        default_factory=lambda: {"image": "image", "style": None, "strength": None}
    )
    output_name: str | None = None
    style_code: list[float] | None = None
    default_strength: float = 1.0
    edits: ColorEdits = field(default_factory=ColorEdits)
    onnx_sha256: str | None = None
    preview: str | None = "preview.jpg"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def model_path(self) -> Path:
        return self.root / self.model

    @property
    def preview_path(self) -> Path | None:
        if not self.preview:
            return None
        p = self.root / self.preview
        return p if p.is_file() else None

    def manifest(self) -> dict[str, Any]:
        """The look.json dictionary for this look."""
        d = asdict(self)
        d.pop("root")
        d["format"] = FORMAT_VERSION
        d["normalisation"] = {"mean": list(self.normalisation.mean), "std": list(self.normalisation.std)}
        d["inputs"] = d.pop("input_names")
        d["output"] = d.pop("output_name")
        return d

    def save(self) -> Path:
        from livefilter.atomic import write_text

        return write_text(self.root / "look.json", json.dumps(self.manifest(), indent=2) + "\n")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_member_path(name: str) -> PurePosixPath:
    """A relative path that stays inside the pack (no absolute paths, no '..', no drive letters)."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise LookError(f"invalid path in look pack: {name!r}")
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise LookError(f"path escapes the look pack: {name!r}")
    return p


def _num(d: dict, key: str, default: float, lo: float, hi: float) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
        raise LookError(f"look.json: '{key}' must be a number in [{lo}, {hi}], got {v!r}")
    return float(v)


def parse_manifest(data: Any, root: Path) -> Look:
    """Validate a parsed look.json and build the :class:`Look`."""
    if not isinstance(data, dict):
        raise LookError("look.json must hold a JSON object")
    fmt = data.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        raise LookError(f"look.json format {fmt!r} is not supported (expected {FORMAT_VERSION})")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise LookError(f"look.json: name must match {NAME_RE.pattern}, got {name!r}")
    model = data.get("model", "student.onnx")
    check_member_path(model)
    preview = data.get("preview", "preview.jpg")
    if preview is not None:
        check_member_path(preview)
    size = data.get("input_size", 256)
    if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= 1024 or size % 8:
        raise LookError(f"look.json: input_size must be a multiple of 8 in [32, 1024], got {size!r}")
    norm = data.get("normalisation", {}) or {}
    try:
        mean = tuple(float(x) for x in norm.get("mean", (0.5, 0.5, 0.5)))
        std = tuple(float(x) for x in norm.get("std", (0.5, 0.5, 0.5)))
    except (TypeError, ValueError) as e:
        raise LookError(f"look.json: bad normalisation ({e})") from None
    if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
        raise LookError("look.json: normalisation needs three means and three positive stds")
    inputs = data.get("inputs", {"image": "image"})
    if not isinstance(inputs, dict) or not isinstance(inputs.get("image"), str):
        raise LookError("look.json: 'inputs' must name at least the image input")
    for role in ("style", "strength"):
        if inputs.get(role) is not None and not isinstance(inputs[role], str):
            raise LookError(f"look.json: inputs.{role} must be a string or null")
    style = data.get("style_code")
    if style is not None:
        if (
            not isinstance(style, list)
            or not 1 <= len(style) <= 4096
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in style)
        ):
            raise LookError("look.json: style_code must be a list of 1..4096 numbers")
        if inputs.get("style") is None:
            raise LookError("look.json: style_code is given but the model has no style input")
    edits_d = data.get("edits", {}) or {}
    if not isinstance(edits_d, dict) or set(edits_d) - {"brightness", "contrast", "saturation", "warmth"}:
        raise LookError("look.json: edits may only hold brightness, contrast, saturation, warmth")
    edits = ColorEdits(**{k: float(v) if isinstance(v, (int, float)) else v for k, v in edits_d.items()})
    try:
        edits.validate()
    except LookError as e:
        raise LookError(f"look.json: {e}") from None
    sha = data.get("onnx_sha256")
    if sha is not None and (not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise LookError("look.json: onnx_sha256 must be 64 hex digits")
    for key in ("title", "description", "author", "licence", "version"):
        if key in data and not isinstance(data[key], str):
            raise LookError(f"look.json: '{key}' must be a string")
    for key in ("training", "metrics"):
        if key in data and not isinstance(data[key], dict):
            raise LookError(f"look.json: '{key}' must be an object")
    return Look(
        name=name,
        root=root,
        model=model,
        title=data.get("title", name),
        description=data.get("description", ""),
        author=data.get("author", ""),
        licence=data.get("licence", ""),
        version=data.get("version", "1.0"),
        input_size=size,
        align_padding=_num(data, "align_padding", 0.25, 0.0, 1.0),
        normalisation=Normalisation(mean, std),  # type: ignore[arg-type]
        input_names={"image": inputs["image"], "style": inputs.get("style"), "strength": inputs.get("strength")},
        output_name=data.get("output"),
        style_code=[float(x) for x in style] if style is not None else None,
        default_strength=_num(data, "default_strength", 1.0, 0.0, 1.0),
        edits=edits,
        onnx_sha256=sha,
        preview=preview,
        training=data.get("training", {}),
        metrics=data.get("metrics", {}),
    )


def validate_onnx_inputs(look: Look) -> None:
    """Check the ONNX graph takes what look.json says: NCHW image of the look's size, style, strength."""
    import onnx

    try:
        model = onnx.load(str(look.model_path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError / ValueError / OSError for broken files
        raise LookError(f"look '{look.name}': {look.model} is not a valid ONNX model ({type(e).__name__})") from None
    graph_inputs = {i.name: i for i in model.graph.input}
    if model.graph.initializer:
        for init in model.graph.initializer:
            graph_inputs.pop(init.name, None)

    def dims(name: str) -> list[int | str]:
        t = graph_inputs[name].type.tensor_type
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]

    image = look.input_names["image"]
    if image not in graph_inputs:
        raise LookError(
            f"look '{look.name}': ONNX has no input '{image}' (inputs: {', '.join(graph_inputs) or 'none'})"
        )
    d = dims(image)
    if len(d) != 4 or d[1] != 3 or any(isinstance(x, int) and x != look.input_size for x in d[2:]):
        raise LookError(
            f"look '{look.name}': input '{image}' must be [N,3,{look.input_size},{look.input_size}], got {d}"
        )
    for role in ("style", "strength"):
        name = look.input_names.get(role)
        if name is not None and name not in graph_inputs:
            raise LookError(f"look '{look.name}': ONNX has no {role} input '{name}'")
    known = {v for v in look.input_names.values() if v}
    extra = set(graph_inputs) - known
    if extra:
        raise LookError(f"look '{look.name}': ONNX has inputs look.json does not describe: {sorted(extra)}")
    if look.style_code is not None:
        sd = dims(look.input_names["style"])  # type: ignore[index]
        if len(sd) != 2 or (isinstance(sd[1], int) and sd[1] != len(look.style_code)):
            raise LookError(
                f"look '{look.name}': style input is {sd} but style_code has {len(look.style_code)} values"
            )


def load_look(path: Path, *, check_model: bool = True) -> Look:
    """Load and validate a look folder."""
    path = Path(path)
    manifest = path / "look.json"
    if not manifest.is_file():
        raise LookError(f"{path} is not a look (no look.json)")
    if manifest.stat().st_size > MAX_MANIFEST_BYTES:
        raise LookError(f"{manifest} is larger than {MAX_MANIFEST_BYTES >> 10} KiB")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LookError(f"{manifest}: invalid JSON ({e.__class__.__name__}: {e})") from None
    look = parse_manifest(data, path)
    model = look.model_path
    if not model.is_file() or model.is_symlink():
        raise LookError(f"look '{look.name}': model file {look.model} is missing")
    if model.stat().st_size > MAX_MODEL_BYTES:
        raise LookError(f"look '{look.name}': model is larger than {MAX_MODEL_BYTES >> 20} MiB")
    if check_model:
        if look.onnx_sha256 is not None and sha256_file(model) != look.onnx_sha256:
            raise LookError(f"look '{look.name}': {look.model} does not match its sha256 in look.json (corrupt?)")
        validate_onnx_inputs(look)
    return look
