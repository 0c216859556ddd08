"""Look manifest, loading and validation.

A look is data only: JSON, an ONNX graph and a JPEG. Nothing in a pack is ever executed or
unpickled, and every path a manifest names must stay inside the pack.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from livefilter.infra import strict_json
from livefilter.errors import LookError
from livefilter.looks.schema import (
    MISSING,
    Field,
    check_member_path,
    integer,
    json_object,
    matching,
    member_path,
    null_as_empty,
    number,
    number_list,
    obj,
    optional,
    shown,
    text,
)
from livefilter.finish.settings import FinishSettings
from livefilter.types import ColorEdits  # noqa: F401 - re-exported (a look's default edits)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
MAX_MODEL_BYTES = 256 << 20
MAX_PREVIEW_BYTES = 8 << 20
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
EDIT_KEYS = ("brightness", "contrast", "saturation", "warmth")


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
    # A fully convolutional student can run larger on a GPU (sharper liner and lip edges on big faces);
    # None: the GPU runs it at ``input_size`` too.
    device_input_size: int | None = None
    align_padding: float = 0.25
    normalisation: Normalisation = field(default_factory=Normalisation)
    input_names: dict[str, str | None] = field(
        default_factory=lambda: {"image": "image", "style": None, "strength": None}
    )
    output_name: str | None = None
    style_code: list[float] | None = None
    regions: list[str] = field(default_factory=list)  # the face regions the look changes (lips, eyes, ...)
    default_strength: float = 1.0
    # where the look's residual lands: "face" (the face oval) or "head" (an illustration trained on the whole
    # crop restyles hair and ears too: livefilter.composite.masks.HEAD_REACH)
    composite: str = "face"
    edits: ColorEdits = field(default_factory=ColorEdits)
    finish: FinishSettings = field(default_factory=FinishSettings)  # the look's skin finish (livefilter.finish)
    onnx_sha256: str | None = None
    preview: str | None = "preview.jpg"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    # the look's own background wish and colour grade (livefilter.scene): {"background": {...}, "grade": {...}}
    scene: dict[str, Any] | None = None

    def sized_for(self, gpu: bool) -> "Look":
        """This look at the input size of the machine it runs on (the GPU size on a GPU backend)."""
        if gpu and self.device_input_size and self.device_input_size != self.input_size:
            from dataclasses import replace

            return replace(self, input_size=self.device_input_size)
        return self

    @property
    def model_path(self) -> Path:
        return self.root / self.model

    @property
    def preview_path(self) -> Path | None:
        if not self.preview:
            return None
        p = self.root / self.preview
        return p if p.is_file() and not p.is_symlink() else None

    def manifest(self) -> dict[str, Any]:
        """The look.json dictionary for this look."""
        d = asdict(self)
        d.pop("root")
        d["format"] = FORMAT_VERSION
        d["normalisation"] = {"mean": list(self.normalisation.mean), "std": list(self.normalisation.std)}
        d["inputs"] = d.pop("input_names")
        d["output"] = d.pop("output_name")
        d["training"] = _json_safe(d["training"])
        d["metrics"] = _json_safe(d["metrics"])
        return d

    def save(self) -> Path:
        from livefilter.infra.atomic import write_text

        try:
            text = json.dumps(self.manifest(), indent=2, allow_nan=False) + "\n"
        except ValueError:
            raise LookError(f"look '{self.name}': a value in look.json is not a finite number") from None
        parse_manifest(json.loads(text), self.root)  # never write a look.json the loader would refuse
        return write_text(self.root / "look.json", text)


def _json_safe(value: Any) -> Any:
    """Free-form metrics as strict JSON: a non-finite figure (the PSNR of two identical images is
    infinite) is written as the string "inf", "-inf" or "nan" instead of a bare Infinity/NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_look_name(name: Any) -> str:
    """A look name (the folder it installs into): lower-case letters, digits, '_' and '-'."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise LookError(f"{shown(name)} is not a look name (names match {NAME_RE.pattern})")
    return name


def _format(v: Any, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v != FORMAT_VERSION:
        raise LookError(f"look.json format {shown(v)} is not supported (expected {FORMAT_VERSION})")
    return v


def _normalisation(v: Any, key: str) -> Normalisation:
    d = normalisation_fields(v, key)
    return Normalisation(tuple(d["mean"]), tuple(d["std"]))  # type: ignore[arg-type]


def _edits(v: Any, key: str) -> ColorEdits:
    return ColorEdits(**edit_fields(v, key))


def _finish(v: Any, key: str) -> FinishSettings:
    return FinishSettings(**finish_fields(v, key))


def _regions(v: Any, key: str) -> list[str]:
    from livefilter.composite.regions import REGION_GROUP_NAMES as known

    if not isinstance(v, list) or len(v) > len(known) or not all(isinstance(r, str) and r in known for r in v):
        raise LookError(f"look.json: '{key}' must be a list of {', '.join(known)}, got {shown(v)}")
    return list(v)


def _choice(options: tuple[str, ...]) -> Callable[[Any, str], str]:
    def check(v: Any, key: str) -> str:
        if not isinstance(v, str) or v not in options:
            raise LookError(f"look.json: '{key}' must be one of {', '.join(options)}, got {shown(v)}")
        return v

    return check


def _flag(v: Any, key: str) -> bool:
    if not isinstance(v, bool):
        raise LookError(f"look.json: '{key}' must be true or false, got {shown(v)}")
    return v


GRADE_KNOTS = 9  # livefilter.scene.grade.KNOTS: a curve's values at 9 evenly spaced levels


def _curves(v: Any, key: str) -> list[list[float]]:
    if not isinstance(v, list) or len(v) != 3:
        raise LookError(f"look.json: '{key}' must be three curves (R, G, B) of {GRADE_KNOTS} numbers, got {shown(v)}")
    curves = [number_list(GRADE_KNOTS, GRADE_KNOTS, 0.0, 255.0)(c, f"{key}[{i}]") for i, c in enumerate(v)]
    if any(b < a for c in curves for a, b in zip(c, c[1:])):
        raise LookError(f"look.json: '{key}': a grade curve must not decrease")
    return curves


_scene_background = obj({
    "mode": (_choice(("keep", "blur", "replace")), "keep"),
    "blur": (number(0.0, 1.0), 0.6),
    "source": (optional(member_path), None),  # an image or video inside the pack
}, unknown="reject")
_scene_grade = obj({
    "curves": (_curves, MISSING),
    "region": (_choice(("frame", "person", "background")), "frame"),
    "strength": (number(0.0, 1.0), 1.0),
    "keep_skin": (_flag, True),
}, unknown="reject")
_scene_fields = obj({"background": (optional(_scene_background), None), "grade": (optional(_scene_grade), None)},
                    unknown="reject")


def _scene(v: Any, key: str) -> dict[str, Any] | None:
    if v is None:
        return None
    d = _scene_fields(v, key)
    bg = d["background"]
    if bg is not None and (bg["mode"] == "replace") != (bg["source"] is not None):
        raise LookError(f"look.json: '{key}.background': a 'source' file is given exactly when the mode is replace")
    if bg is not None and bg["source"] is not None and not str(bg["source"]).lower().endswith(SCENE_MEDIA):
        raise LookError(f"look.json: '{key}.background.source' must be an image or video ({', '.join(SCENE_MEDIA)})")
    return d


SCENE_MEDIA = (".jpg", ".jpeg", ".png", ".webp", ".mp4", ".webm", ".mov")

_INPUT_NAME = text(256)
normalisation_fields = null_as_empty(obj({
    "mean": (number_list(3, 3, -1.0, 1.0), [0.5, 0.5, 0.5]),
    "std": (number_list(3, 3, 0.001, 10.0), [0.5, 0.5, 0.5]),
}, unknown="ignore"))
finish_fields = null_as_empty(obj({k: (number(0.0, 1.0), 0.0) for k in ("strength", "under_eye")}, unknown="reject"))
edit_fields = null_as_empty(obj({k: (number(-1.0, 1.0), 0.0) for k in EDIT_KEYS}, unknown="reject"))
input_fields = obj({
    "image": (_INPUT_NAME, MISSING),
    "style": (optional(_INPUT_NAME), None),
    "strength": (optional(_INPUT_NAME), None),
}, unknown="ignore")

# Every look.json key the runtime understands. Keys not listed here are ignored (logged at debug
# level), so a newer pack still loads; a listed key with a bad value is always an error.
MANIFEST_FIELDS: tuple[Field, ...] = (
    Field("format", _format, FORMAT_VERSION, stored=False),
    Field("name", matching(NAME_RE, f"a look name matching {NAME_RE.pattern}")),
    Field("model", member_path, "student.onnx"),
    Field("title", optional(text(200)), None),
    Field("description", text(2000, multiline=True), ""),
    Field("author", text(200), ""),
    Field("licence", text(200), ""),
    Field("version", text(32), "1.0"),
    Field("input_size", integer(32, 1024, multiple_of=8), 256),
    Field("device_input_size", optional(integer(32, 1024, multiple_of=8)), None),
    Field("align_padding", number(0.0, 1.0), 0.25),
    Field("normalisation", _normalisation, None),
    Field("inputs", input_fields, {"image": "image"}, attr="input_names"),
    Field("output", optional(_INPUT_NAME), None, attr="output_name"),
    Field("style_code", optional(number_list(1, 4096, -1000.0, 1000.0)), None),
    Field("regions", _regions, []),
    Field("default_strength", number(0.0, 1.0), 1.0),
    Field("composite", matching(re.compile(r"face|head"), "face or head"), "face"),
    Field("edits", _edits, None),
    Field("finish", _finish, None),
    Field("onnx_sha256", optional(matching(re.compile(r"[0-9a-f]{64}"), "64 hex digits")), None),
    Field("preview", optional(member_path), "preview.jpg"),
    Field("training", json_object, {}),
    Field("metrics", json_object, {}),
    Field("scene", _scene, None),
)
_FIELDS_BY_KEY = {f.key: f for f in MANIFEST_FIELDS}


def _check_style_needs_input(values: dict[str, Any]) -> None:
    if values["style_code"] is not None and values["input_names"]["style"] is None:
        raise LookError("look.json: style_code is given but the model has no style input")


# Rules that relate several fields, run after every field has passed its own check.
CROSS_FIELD_CHECKS: tuple[Callable[[dict[str, Any]], None], ...] = (_check_style_needs_input,)


def parse_manifest(data: Any, root: Path) -> Look:
    """Validate a parsed look.json field by field (:data:`MANIFEST_FIELDS`) and build the :class:`Look`."""
    if not isinstance(data, dict):
        raise LookError("look.json must hold a JSON object")
    for key in data.keys() - _FIELDS_BY_KEY.keys():
        log.debug("look.json: ignoring unknown key %r", key)
    values: dict[str, Any] = {}
    for f in MANIFEST_FIELDS:
        if f.key in data:
            value = f.check(data[f.key], f.key)
        elif f.default is MISSING:
            raise LookError(f"look.json: '{f.key}' is required")
        else:
            value = f.check(f.default, f.key)
        if f.stored:
            values[f.target] = value
    if values["title"] is None:
        values["title"] = values["name"]
    for rule in CROSS_FIELD_CHECKS:
        rule(values)
    return Look(root=root, **values)


def scene_media(look: Look) -> Path | None:
    """The look's background image or video (inside the pack, a regular file), or None."""
    bg = (look.scene or {}).get("background") or {}
    if not bg.get("source"):
        return None
    path = look.root / bg["source"]
    if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_SCENE_MEDIA_BYTES:
        raise LookError(f"look '{look.name}': background file {shown(bg['source'])} is missing, a link, or over "
                        f"{MAX_SCENE_MEDIA_BYTES >> 20} MiB")
    return path


MAX_SCENE_MEDIA_BYTES = 64 << 20


def _all_tensors(graph) -> Iterator:
    """Every tensor stored in a graph: initialisers, sparse initialisers and constant attributes,
    in every subgraph (If/Loop/Scan bodies) too. Iterative, so a deeply nested graph cannot
    exhaust the recursion limit."""
    from onnx import AttributeProto

    graphs = [graph]
    while graphs:
        g = graphs.pop()
        yield from g.initializer
        for sparse in g.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in g.node:
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR:
                    yield attr.t
                elif attr.type == AttributeProto.TENSORS:
                    yield from attr.tensors
                elif attr.type == AttributeProto.SPARSE_TENSOR:
                    yield attr.sparse_tensor.values
                    yield attr.sparse_tensor.indices
                elif attr.type == AttributeProto.GRAPH:
                    graphs.append(attr.g)
                elif attr.type == AttributeProto.GRAPHS:
                    graphs.extend(attr.graphs)


def reject_external_data(look: Look, model) -> None:
    """A look is one self-contained ONNX file: a tensor whose data lives in another file (an
    absolute path, ``../`` or even a file beside it) would make the runtime read outside the pack."""
    from onnx import TensorProto

    for tensor in _all_tensors(model.graph):
        if tensor.data_location == TensorProto.EXTERNAL:
            where = next((e.value for e in tensor.external_data if e.key == "location"), "?")
            raise LookError(
                f"look '{look.name}': {look.model} keeps tensor {shown(tensor.name)} in an external file "
                f"({shown(where)}); a look's ONNX must be self-contained"
            )


def validate_onnx_inputs(look: Look) -> None:
    """Check the ONNX graph takes what look.json says: NCHW image of the look's size, style, strength."""
    import onnx

    try:
        model = onnx.load(str(look.model_path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError / ValueError / OSError for broken files
        raise LookError(f"look '{look.name}': {look.model} is not a valid ONNX model ({type(e).__name__})") from None
    reject_external_data(look, model)
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
    sizes = {look.input_size, look.device_input_size or look.input_size}
    if len(d) != 4 or d[1] != 3 or any(isinstance(x, int) and (x != look.input_size or len(sizes) > 1) for x in d[2:]):
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
        data = strict_json.loads(manifest.read_bytes())
    except strict_json.StrictJSONError as e:
        raise LookError(f"{manifest}: invalid JSON ({e})") from None
    except OSError as e:
        raise LookError(f"{manifest} cannot be read ({e.strerror or type(e).__name__})") from None
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
    scene_media(look)
    return look
