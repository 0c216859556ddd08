"""``livefilter looks create``: your own look from a handful of photos, offline, in well under a minute.

Photos -> faces (the runtime's own detector and aligner) -> region colours (the shipped style encoder,
ONNX) -> robust average over the photos -> a look code (:func:`encode_descriptors` against the
plain-face baseline) -> optionally restricted to some regions and fine-tuned (code only) -> a complete
look pack that reuses the shipped family student unchanged: look.json (with provenance: photo count
and each photo's sha256, never its pixels unless asked), student.onnx, preview.jpg on the demo photo.

The pack is written into a temporary folder inside the user's looks folder, validated by the same
loader every look goes through, and installed by renaming, so a failed or interrupted creation leaves
nothing behind.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Union

import cv2
import numpy as np

from livefilter.align.host import Aligner
from livefilter.errors import InputError, LookError, SettingError
from livefilter.looks.code import CODE_DIM, LookCode
from livefilter.looks.encoder import StyleEncoder
from livefilter.looks.grade_learn import DEFAULT_GRADE_STRENGTH, describe_grade, grade_from_quantiles, photo_quantiles
from livefilter.scene.grade import GRADE_REGIONS, Grade, grade_table
from livefilter.looks.pack import NAME_RE, Look, load_look
from livefilter.looks.photos import Photo, PhotoRejected, decode_photo, printable, read_photo
from livefilter.looks.schema import shown
from livefilter.infra.terminal_text import has_unsafe_characters
from livefilter.looks.region_stats import Recipe, encode_descriptors, load_baseline, robust_mean
from livefilter.looks.registry import LookRegistry, staging_or_error, check_writable
from livefilter.infra.paths import PACKAGED_LOOKS_DIR, user_looks_dir
from livefilter.composite.regions import REGION_GROUP_NAMES

log = logging.getLogger(__name__)

MIN_FACES = 3
MIN_FACE_PX = 64  # a face narrower than this in the photo has too few lip and lid pixels to measure
MIN_SKIN_CHROMA = 4.0  # skin with less chroma than this is a black-and-white (or tinted) photo
MEASURE_SIZE, MEASURE_PADDING = 256, 0.25
MAX_TITLE = 80
# the region groups a look made from photos learns (brows and skin are not measured from photos)
CREATABLE_REGIONS = ("lips", "eyes", "cheeks")
MAX_FINETUNE_MINUTES = 30.0
# How a created look wears what its photos show: every region as measured, offsets slightly exaggerated
# (references are photographed close up, a look is worn on a webcam).
CREATE_RECIPE = Recipe(lips=1.0, eyes=0.8, liner=0.0, brows=0.0, blush=0.8, gain=1.2)

PhotoSource = Union[Path, tuple[str, bytes]]
Progress = Callable[[str, float, float], None]


@dataclass(frozen=True)
class CreateOptions:
    name: str
    title: str = ""
    strength: float = 1.0
    regions: tuple[str, ...] | None = None  # None: every region the photos show
    finetune_minutes: float = 0.0
    keep_thumbnails: bool = False
    replace: bool = False
    grade: bool = True  # learn the photos' colour grade too (livefilter.scene)
    grade_only: bool = False  # a look that only grades (any photos: no faces needed)
    grade_region: str = "frame"  # frame | person | background
    grade_strength: float = DEFAULT_GRADE_STRENGTH
    keep_skin: bool = True  # the grade leaves the wearer's skin tone as it is

    def validate(self, registry: LookRegistry) -> "CreateOptions":
        # the very checks the finished look.json goes through, run before any work (never after it)
        if not isinstance(self.name, str) or not NAME_RE.fullmatch(self.name):
            raise SettingError(f"look name must be lower-case letters, digits, '-' or '_' (at most 64), "
                               f"got {shown(self.name)}")
        if (PACKAGED_LOOKS_DIR / self.name).is_dir():
            raise SettingError(f"'{self.name}' is the name of a built-in look; choose another name")
        if not self.replace and (user_looks_dir() / self.name / "look.json").is_file():
            raise SettingError(f"look '{self.name}' already exists (use --replace to overwrite it)")
        if (not isinstance(self.title, str) or len(self.title) > MAX_TITLE or has_unsafe_characters(self.title)
                or (self.title and not self.title.strip())):
            raise SettingError(f"the title must be at most {MAX_TITLE} printable characters (no control or "
                               "direction characters, not only spaces)")
        if not 0.0 <= self.strength <= 1.0:
            raise SettingError(f"strength must be between 0 and 1, got {self.strength}")
        if self.regions is not None:
            unknown = [r for r in self.regions if r not in REGION_GROUP_NAMES]
            if unknown or not self.regions:
                raise SettingError(f"--regions takes a comma list of {', '.join(CREATABLE_REGIONS)}, got "
                                   f"{shown(','.join(self.regions)) if self.regions else 'nothing'}")
            unlearned = [r for r in self.regions if r not in CREATABLE_REGIONS]
            if unlearned:  # brows and skin are not measured from photos: such a look would change nothing there
                raise SettingError(f"a look made from photos cannot change {' or '.join(unlearned)} yet; "
                                   f"--regions takes {', '.join(CREATABLE_REGIONS)}")
        if self.grade_region not in GRADE_REGIONS:
            raise SettingError(f"--grade-region must be {', '.join(GRADE_REGIONS)}, got {shown(self.grade_region)}")
        if not 0.0 <= self.grade_strength <= 1.0:
            raise SettingError(f"--grade-strength must be between 0 and 1, got {self.grade_strength}")
        if self.grade_only and (self.regions is not None or self.finetune_minutes > 0):
            raise SettingError("--grade-only makes a look without makeup: --regions and --finetune do not apply")
        if not 0.0 <= self.finetune_minutes <= MAX_FINETUNE_MINUTES:
            raise SettingError(f"--finetune takes 0..{MAX_FINETUNE_MINUTES:g} minutes, got {self.finetune_minutes}")
        return self


@dataclass
class Rejected:
    name: str
    reason: str


@dataclass
class CreatedLook:
    look: Look
    code: LookCode
    used: int
    rejected: list[Rejected]
    seconds: float
    finetune: dict | None = None
    metrics: dict = field(default_factory=dict)


def find_student(registry: LookRegistry, student: str | None = None) -> Look:
    """The look whose ONNX is the shared family student (its style input takes a :class:`LookCode`)."""
    def fits(look: Look) -> bool:
        return look.input_names.get("style") is not None and len(look.style_code or []) == CODE_DIM

    if student is not None:
        look = registry.get(student)
        if not fits(look):
            raise LookError(f"look '{look.name}' does not carry the family student (its style input takes "
                            f"{len(look.style_code or [])} values, a look code has {CODE_DIM})")
        return look
    packaged = [lk for lk in registry.list() if lk.root.parent == PACKAGED_LOOKS_DIR and fits(lk)]
    others = [lk for lk in registry.list() if lk.root.parent != PACKAGED_LOOKS_DIR and fits(lk)
              and not lk.training.get("created_from")]
    for look in packaged + others:
        try:
            return load_look(look.root)
        except LookError as e:
            log.warning("skipping %s as the student: %s", look.name, e)
    raise LookError(f"no installed look carries the family student (a style input of {CODE_DIM} values); "
                    "update livefilter, or pass --student LOOK")


def describe(code: LookCode) -> str:
    """One honest line about what a code does, from its physical parameters."""
    parts = []
    if code.lips_opacity > 0.05:
        depth = f", {-code.lips_dL:.0f} L deeper" if code.lips_dL < -1 else ""
        parts.append(f"lips a {code.lips_a:.0f} b {code.lips_b:.0f}{depth}")
    if code.shadow_opacity > 0.05:
        if code.shadow_dL < -1:
            parts.append(f"lids {-code.shadow_dL:.0f} L darker")
        elif code.shadow_dL > 1:
            parts.append(f"lids {code.shadow_dL:.0f} L lighter")
        else:
            parts.append("lids tinted")
    if code.blush_opacity > 0.05:
        parts.append(f"blush +{code.blush_da:.0f} a")
    if code.skin_opacity > 0.05 and code.skin_smooth > 0.05:
        parts.append("smoothed skin")
    return "; ".join(parts) or "no visible change"


def _graded(crops: np.ndarray, grade: Grade) -> np.ndarray:
    """Face crops with the grade applied as the runtime applies it to a frame (skin kept at each
    crop's own centre colour when the grade keeps skin)."""
    out = []
    for c in crops:
        h, w = c.shape[:2]
        skin = c[int(h * 0.45):int(h * 0.75), int(w * 0.3):int(w * 0.7)].reshape(-1, 3).mean(0)
        out.append(cv2.LUT(np.ascontiguousarray(c), grade_table(grade, skin_rgb=skin)))
    return np.stack(out)


def _grid(rows: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.concatenate(list(r), 1) for r in rows], 0)


class LookCreator:
    """Creates looks; one instance keeps its detector, encoder and demo faces between creations."""

    def __init__(self, registry: LookRegistry | None = None, student: str | None = None, threads: int = 1) -> None:
        self.registry = registry or LookRegistry()
        self.student_choice = student
        self.threads = threads
        self._detector = None
        self._encoder: StyleEncoder | None = None
        self._demo: tuple[np.ndarray, np.ndarray] | None = None

    # -- parts, loaded on first use ---------------------------------------------------------------------
    @property
    def detector(self):
        if self._detector is None:
            from livefilter.detect import create_detector

            self._detector = create_detector(threads=self.threads)
        return self._detector

    @property
    def encoder(self) -> StyleEncoder:
        if self._encoder is None:
            self._encoder = StyleEncoder(threads=self.threads)
        return self._encoder

    def demo_faces(self, size: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Plain faces to show and fine-tune a look on: the demo group photo's faces (None if not installed)."""
        if self._demo is None or self._demo[0].shape[1] != size:
            from livefilter.demo.sample_media import group_photo_path

            try:
                rgb = read_photo(group_photo_path()).rgb
            except InputError:
                return None
            aligner = Aligner(size, MEASURE_PADDING)
            faces = [f for f in self.detector.detect(rgb) if f.landmarks is not None][:6]
            if not faces:
                return None
            m = np.stack([aligner.transform(f.keypoints) for f in faces])
            crops = aligner.warp(rgb, m)
            marks = np.stack([f.landmarks @ mi[:, :2].T + mi[:, 2] for f, mi in zip(faces, m)]).astype(np.float32)
            self._demo = (crops, marks)
        return self._demo

    # -- steps ------------------------------------------------------------------------------------------
    def load(self, source: PhotoSource) -> Photo:
        if isinstance(source, Path):
            return read_photo(source)
        name, data = source
        return decode_photo(data, name)

    def face_of(self, photo: Photo, aligner: Aligner) -> tuple[np.ndarray, np.ndarray]:
        """The photo's largest face, aligned: (crop, crop-space landmarks); PhotoRejected when unusable."""
        faces = [f for f in self.detector.detect(photo.rgb) if f.landmarks is not None]
        if not faces:
            raise PhotoRejected(f"{photo.name}: no face found")
        face = faces[0]
        width = float(face.box[2] - face.box[0])
        if width < MIN_FACE_PX:
            raise PhotoRejected(f"{photo.name}: the face is too small ({width:.0f} px wide; at least {MIN_FACE_PX})")
        m = aligner.transform(face.keypoints)
        crop = aligner.warp(photo.rgb, m[None])[0]
        return crop, (face.landmarks @ m[:, :2].T + m[:, 2]).astype(np.float32)

    def _each_photo(self, sources: list[PhotoSource], measure: Callable, stage: str, tell, cancel,
                    on_reject: Callable[[Rejected], None] | None) -> tuple[list[tuple], list[Rejected]]:
        """``(photo, measure(photo))`` for every photo given once (the same photo twice counts once, as in
        the panel), and the rejected ones: unreadable, a repeat, or refused by ``measure`` (PhotoRejected);
        each rejection is also passed to ``on_reject`` as it happens."""
        done: list[tuple] = []
        seen: set[str] = set()
        rejected: list[Rejected] = []
        for i, src in enumerate(sources):
            if cancel is not None and cancel.is_set():
                raise InputError("look creation was cancelled")
            try:
                photo = self.load(src)
                if photo.sha256 in seen:
                    raise PhotoRejected("the same photo as one given before (counted once)")
                done.append((photo, measure(photo)))
                seen.add(photo.sha256)
            except PhotoRejected as e:
                rejected.append(Rejected(printable(src.name if isinstance(src, Path) else src[0]), str(e)))
                if on_reject:
                    on_reject(rejected[-1])
            tell(stage, i + 1, len(sources))
        return done, rejected

    def create(self, sources: list[PhotoSource], opts: CreateOptions, progress: Progress | None = None,
               cancel=None, on_reject: Callable[[Rejected], None] | None = None) -> CreatedLook:
        """Create and install a look; each rejected photo is also passed to ``on_reject`` as it happens."""
        t0 = time.perf_counter()
        tell = progress or (lambda stage, done, total: None)
        opts = opts.validate(self.registry)
        check_writable(user_looks_dir())  # before the work, not after it
        base = find_student(self.registry, self.student_choice)
        encoder = self.encoder
        aligner = Aligner(MEASURE_SIZE, MEASURE_PADDING)
        if opts.grade_only:
            return self._create_grade_only(sources, opts, base, tell, cancel, on_reject, t0)
        quantiles: dict[str, np.ndarray] = {}  # every readable photo's colours (the grade), with a face or not

        def measure(photo: Photo) -> tuple[np.ndarray, np.ndarray]:
            quantiles[photo.sha256] = photo_quantiles(photo.rgb)
            return self.face_of(photo, aligner)

        faces, rejected = self._each_photo(sources, measure, "finding faces", tell, cancel, on_reject)
        crops, marks = [c for _, (c, _) in faces], [m for _, (_, m) in faces]
        hashes, names = [p.sha256 for p, _ in faces], [p.name for p, _ in faces]
        if crops:
            desc = encoder.descriptors(np.stack(crops), np.stack(marks))
            keep = []
            for i, d in enumerate(desc):
                if not (np.isfinite(d["skin_L"]) and np.isfinite(d["lips_a"])):
                    why = f"{names[i]}: the lips or skin of its face cannot be measured"
                elif np.hypot(d["skin_a"], d["skin_b"]) < MIN_SKIN_CHROMA:
                    why = f"{names[i]}: the photo has no colour (black and white?)"
                else:
                    keep.append(i)
                    continue
                rejected.append(Rejected(names[i], why))
                if on_reject:
                    on_reject(rejected[-1])
            desc = [desc[i] for i in keep]
            crops, marks, hashes = [crops[i] for i in keep], [marks[i] for i in keep], [hashes[i] for i in keep]
        if len(crops) < MIN_FACES:
            raise InputError(f"only {len(crops)} of {len(sources)} photos show a usable face; a look needs at "
                             f"least {MIN_FACES} (clear, front-facing, well-lit photos of one made-up face)")
        ref = robust_mean(desc)
        code = encode_descriptors(ref, load_baseline(), CREATE_RECIPE)
        if opts.regions is not None:
            code = code.only_regions(opts.regions)  # type: ignore[arg-type]
        tell("measuring", 1, 1)

        demo = self.demo_faces(base.input_size)
        if demo is None:  # no demo photo installed: show and tune on the photos' own faces
            k = base.input_size / MEASURE_SIZE
            demo = (np.stack([cv2.resize(c, (base.input_size,) * 2, interpolation=cv2.INTER_AREA) for c in crops]),
                    (np.stack(marks) + 0.5) * k - 0.5)
        from livefilter.looks.finetune import CodeObjective, finetune_code
        from livefilter.looks.styling import CropStyler

        styler = CropStyler(base, demo[0], demo[1], threads=self.threads)
        objective = CodeObjective(styler, encoder, demo[1], ref, code.regions(), opts.strength, code.vector())
        tuned = None
        if opts.finetune_minutes > 0:
            result = finetune_code(code, objective, opts.finetune_minutes * 60.0,
                                   progress=lambda done, total: tell("fine-tuning", done, total), cancel=cancel)
            if cancel is not None and cancel.is_set():
                raise InputError("look creation was cancelled")
            code, tuned = result.code, result.to_dict()
        styled = styler(code.vector(), opts.strength)
        grade = (grade_from_quantiles(list(quantiles.values()), opts.grade_region, opts.grade_strength, opts.keep_skin)
                 if opts.grade else None)
        if grade is not None:
            styled = _graded(styled, grade)
        metrics = {"demo_faces": len(demo[0]), "reference_distance": self._distances(styled, demo[1], ref),
                   "reference_distance_unstyled": self._distances(demo[0], demo[1], ref)}
        preview = _grid([demo[0][:4], styled[:4]])
        tell("writing the look", 0, 1)
        provenance = {
            "created_from": {"photos": len(crops), "photos_given": len(sources), "rejected": len(rejected),
                             "photo_sha256": hashes},
            "method": "region colours of the photos (style encoder ONNX) -> look code; shared family student",
            "style_encoder_sha256": encoder.sha256, "student_from": base.name, "code": code.to_dict(),
            "reference_descriptors": {k: round(v, 3) for k, v in ref.items()},
            "date": time.strftime("%Y-%m-%d"),
        }
        if tuned:
            provenance["finetune"] = tuned
        if grade is not None:
            provenance["grade"] = {"photos": len(quantiles), "method": "per-channel quantiles of the photos against "
                                   "looks/grade_baseline.json (ungraded photos)", "describe": describe_grade(grade)}
        look = self._install(base, code, opts, provenance, metrics, preview,
                             np.stack(crops) if opts.keep_thumbnails else None,
                             {"grade": grade.to_json()} if grade is not None else None)
        tell("writing the look", 1, 1)
        return CreatedLook(look, code, len(crops), rejected, time.perf_counter() - t0, tuned, metrics)

    def _distances(self, crops: np.ndarray, marks: np.ndarray, ref: dict[str, float]) -> dict[str, float]:
        from livefilter.looks.finetune import REGION_TARGETS

        stats = self.encoder.face_stats(crops, marks)
        out = {}
        for region, (keys, _) in REGION_TARGETS.items():
            target = np.array([ref[k] for k in keys])
            d = [float(np.linalg.norm(np.array([s.relative()[k] for k in keys]) - target)) for s in stats]
            d = [x for x in d if np.isfinite(x)]
            out[region] = round(float(np.mean(d)), 2) if d else None
        return out

    def _create_grade_only(self, sources: list[PhotoSource], opts: CreateOptions, base: Look, tell, cancel,
                           on_reject, t0: float) -> CreatedLook:
        """A look that only carries a colour grade, learnt from any photos (a photographer's portfolio):
        the family student with the plain code at strength 0 (faces are not restyled)."""
        measured, rejected = self._each_photo(sources, lambda photo: photo_quantiles(photo.rgb), "measuring photos",
                                              tell, cancel, on_reject)
        quantiles, hashes = [q for _, q in measured], [p.sha256 for p, _ in measured]
        grade = grade_from_quantiles(quantiles, opts.grade_region, opts.grade_strength, opts.keep_skin)
        code = LookCode()
        demo = self.demo_faces(base.input_size)
        preview = _graded(demo[0][:4], grade) if demo is not None else np.zeros((64, 64, 3), np.uint8)
        preview = _grid([demo[0][:4], preview]) if demo is not None else preview
        provenance = {"created_from": {"photos": len(hashes), "photos_given": len(sources), "rejected": len(rejected),
                                       "photo_sha256": hashes},
                      "method": "colour grade only: per-channel quantiles of the photos against "
                                "looks/grade_baseline.json (ungraded photos)",
                      "grade": {"photos": len(hashes), "describe": describe_grade(grade)},
                      "student_from": base.name, "date": time.strftime("%Y-%m-%d")}
        opts = replace(opts, strength=0.0)
        look = self._install(base, code, opts, provenance, {}, preview, None, {"grade": grade.to_json()},
                             description=f"Colour grade from {len(hashes)} photos: {describe_grade(grade)}.")
        return CreatedLook(look, code, len(hashes), rejected, time.perf_counter() - t0)

    def _install(self, base: Look, code: LookCode, opts: CreateOptions, provenance: dict, metrics: dict,
                 preview: np.ndarray, thumbs: np.ndarray | None, scene: dict | None = None,
                 description: str | None = None) -> Look:
        root = check_writable(user_looks_dir())
        with staging_or_error(root, "create") as tmp:
            folder = Path(tmp) / opts.name
            folder.mkdir()
            shutil.copyfile(base.model_path, folder / base.model)
            ok, jpg = cv2.imencode(".jpg", preview[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
            (folder / "preview.jpg").write_bytes(jpg.tobytes())
            if thumbs is not None:
                small = np.stack([cv2.resize(t, (96, 96), interpolation=cv2.INTER_AREA) for t in thumbs[:12]])
                ok, jpg = cv2.imencode(".jpg", np.concatenate(list(small), 1)[:, :, ::-1])
                (folder / "photos.jpg").write_bytes(jpg.tobytes())
            look = replace(base, name=opts.name, root=folder, title=opts.title or opts.name.replace("-", " ").title(),
                           description=description or f"Created from {provenance['created_from']['photos']} photos: "
                                                              f"{describe(code)}.",
                           author="", licence="", version="1.0", style_code=[round(float(x), 6) for x in code.vector()],
                           regions=code.regions(), default_strength=opts.strength, preview="preview.jpg",
                           training=provenance, metrics=metrics, scene=scene)
            look.save()
            load_look(folder)  # the same validation every look goes through (sha256, ONNX inputs)
            return self.registry.install(folder, replace=opts.replace)
