"""What the teacher is conditioned on: a look code and the set of reference photos it came from.

The same mixture the family student trains on (``training.makeup.sampler.CodeSampler``): the family's
own looks (with their references), codes of random reference subsets (with those photos: the code is
what ``looks create`` measures from them), mixes of two looks (both sets), random codes and the empty
look (no references), each sometimes restricted to a few regions; optionally extra draws of the
stylised (paint) looks. The student sees only the code; the
teacher sees the code and the photos.

The family's eye fields come as a block: glam is the one look with a strong lid shadow, and it always has
liner and brows beside it, so a student trained on them learns "glam's lids" from the liner and brow fields
and ignores the shadow axes (``LIDS.md``), while a look created from photos has no liner and no brows.
``eye_share`` of the family and mix draws therefore get liner and brows drawn on their own, and half of
those the eye shadow of another family look (the lid target from the photos is then dropped: those
photos no longer say what the lid should be).

The lips and cheeks come as a block with the eyes too: in the family the strong lipstick is glam's, beside its dark
lid. ``cross_share`` of the family, reference and mix draws take their lips, cheek and skin fields from a second,
independent draw and keep their own eye fields. The photos then describe lips the code no longer has: the teacher
sees the code alone, and only the lid part of their colour target is kept. Measured (``LIDS.md`` section 13): the
created looks' lips move closer to their photos; the student's lids do not change.

A lighter lid is what the student did not learn from the mixture without them (``LIDS.md`` section 13): it
asks for a few units of lightness where the darker lids ask for tens. ``light_share`` of the draws (not the stylised
look's) get an eye shadow lighter than the plain lid, with their other fields kept; the photos no longer say
what the lid should be, so the teacher sees the code alone and the lid part of their target is dropped.

``photo_dropout`` of the draws that come with photos hide them from the teacher (their colour target stays
what the photos measure). The student always sees the code alone, and so does the teacher for the random
codes; without such draws the teacher's code-alone path only ever met random codes, and a look's code
without its photos gave lids 8 L darker and greyer than the look asks (``LIDS.md``, section 10). The
student learns from the teacher on those draws too, so it learns from a teacher in its own position.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from livefilter.composite.regions import REGION_GROUPS
from livefilter.looks.code import SPEC, LookCode
from livefilter.looks.region_stats import encode_descriptors, robust_mean
from training.makeup.sampler import CodeSampler

TARGET_KEYS = ("lips_L_rel", "lips_a", "lips_b", "lid_L_rel", "lid_a", "lid_b")
LID_KEYS = ("lid_L_rel", "lid_a", "lid_b")
LIPS_KEYS = ("lips_L_rel", "lips_a", "lips_b")
SHADOW_FIELDS = ("shadow_opacity", "shadow_dL", "shadow_a", "shadow_b")
LIGHT_LID_DL = (2.0, SPEC["shadow_dL"].hi)  # a light draw's shadow_dL: lighter than a plain lid, up to the code's limit
# what a cross draw takes from its second draw: every field of the lips, the cheeks and the skin finish
CROSS_FIELDS = tuple(k for k in SPEC if k.split("_")[0] in ("lips", "blush", "contour", "highlight", "skin"))


@dataclass
class Conditions:
    codes: np.ndarray  # (B, CODE_DIM) float32
    ref_sets: np.ndarray  # (B, P) float32 membership of each sample's reference set
    kinds: list[str]  # family | refs | mix | random | empty
    ref_desc: np.ndarray  # (B, len(TARGET_KEYS)) the makeup set's measured lips / lid colour; NaN without one


@dataclass
class Draw:
    code: LookCode
    refs: list[int] = field(default_factory=list)
    kind: str = "random"
    lid_target: bool = True  # the photos' lid colour is this code's lid target
    lips_target: bool = True  # the photos' lips colour is this code's lips target
    show_photos: bool = True  # the teacher may see the photos (a cross draw's describe other lips)


class ConditionSampler:
    def __init__(self, info: dict, ref_names: list[str], ref_kind: list[str], rng: np.random.Generator,
                 paint_share: float = 0.0, eye_share: float = 0.0, photo_dropout: float = 0.0,
                 cross_share: float = 0.0, light_share: float = 0.0) -> None:
        self.looks = [(LookCode(**v["code"]), [ref_names.index(n) for n in v["references"] if n in ref_names])
                      for v in info["looks"].values()]
        # the stylised looks (one in the family) are drawn this often on top of their family share: a
        # whole-face restyle needs more samples than a lipstick colour
        self.paint_looks = [i for i, (c, _) in enumerate(self.looks) if c.paint > 0.5]
        self.paint_share = paint_share if self.paint_looks else 0.0
        self.makeup = [i for i, k in enumerate(ref_kind) if k == "makeup"]
        by_name = dict(zip(info["makeup_reference_names"], info["makeup_reference_descriptors"]))
        self.desc = {i: by_name[ref_names[i]] for i in self.makeup if ref_names[i] in by_name}
        self.codes = CodeSampler([c for c, _ in self.looks], list(self.desc.values()), info["baseline"], rng)
        self.baseline, self.rng, self.n_refs = info["baseline"], rng, len(ref_names)
        self.eye_share, self.photo_dropout, self.cross_share = eye_share, photo_dropout, cross_share
        self.light_share = light_share
        self.shadow_looks = [c for c, _ in self.looks if c.shadow_opacity > 0.05 and c.paint <= 0.5]

    def decouple_eyes(self, code: LookCode) -> tuple[LookCode, bool]:
        """Liner and brows drawn on their own (each off half the time); half the time the eye shadow of
        another family look. Returns the code and whether its eye shadow is still the one its photos state."""
        r = self.rng
        draw = lambda: 0.0 if r.random() < 0.5 else float(r.uniform(0.2, 1.0))  # noqa: E731
        code = replace(code, liner_opacity=draw(), brow_opacity=draw())
        if not self.shadow_looks or r.random() < 0.5:
            return code, True
        src = self.shadow_looks[int(r.integers(len(self.shadow_looks)))]
        shadow = {k: getattr(src, k) for k in SHADOW_FIELDS}
        return replace(code, **shadow), all(getattr(code, k) == v for k, v in shadow.items())

    def _base(self) -> tuple[LookCode, list[int], str]:
        """A family look, the code of a random reference subset, a mix of two looks or a random code."""
        r, s = self.rng, self.codes
        u = r.random()
        if u < 0.4:
            code, refs = self.looks[int(r.integers(len(self.looks)))]
            return code, refs, "family"
        if u < 0.65:
            pool = list(self.desc)
            k = int(r.integers(1, min(8, len(pool)) + 1))
            refs = [pool[i] for i in r.choice(len(pool), k, replace=False)]
            code = encode_descriptors(robust_mean([self.desc[i] for i in refs]), self.baseline, s.random_recipe())
            return code, refs, "refs"
        if u < 0.8:
            (a, ra), (b, rb) = (self.looks[int(i)] for i in r.integers(len(self.looks), size=2))
            t = float(r.uniform(0, 1))
            return LookCode.from_vector((1 - t) * a.vector() + t * b.vector()), sorted(set(ra) | set(rb)), "mix"
        return s.uniform(), [], "random"

    def cross(self, code: LookCode) -> LookCode:
        """``code``'s eye and brow fields with the lips, cheeks and skin finish of a second draw (never a
        stylised look)."""
        other = self._base()[0]
        while other.paint > 0.5:
            other = self._base()[0]
        return replace(code, **{k: getattr(other, k) for k in CROSS_FIELDS})

    def lighten(self, code: LookCode) -> LookCode:
        """``code`` with an eye shadow lighter than the plain lid (opacity 0.5-1, any warm colour)."""
        r = self.rng
        return replace(code, shadow_opacity=float(r.uniform(0.5, 1.0)), shadow_dL=float(r.uniform(*LIGHT_LID_DL)),
                       shadow_a=float(r.uniform(0.0, 20.0)), shadow_b=float(r.uniform(0.0, 20.0)))

    def one(self) -> Draw:
        """One condition: the code, its reference photos and kind, and which of the photos' targets hold."""
        r = self.rng
        if self.paint_share and r.random() < self.paint_share:
            code, refs = self.looks[self.paint_looks[int(r.integers(len(self.paint_looks)))]]
            return Draw(code.clipped(), refs, "family")
        code, refs, kind = self._base()
        d, makeup = Draw(code, refs, kind), code.paint <= 0.5  # the stylised look keeps its own code
        if self.eye_share and makeup and kind in ("family", "mix") and r.random() < self.eye_share:
            d.code, d.lid_target = self.decouple_eyes(d.code)
        if self.cross_share and makeup and kind in ("family", "refs", "mix") and r.random() < self.cross_share:
            d.code, d.lips_target, d.show_photos = self.cross(d.code), False, False
        if self.light_share and makeup and r.random() < self.light_share:
            d.code, d.lid_target, d.show_photos = self.lighten(d.code), False, False
        if r.random() < 0.2:  # a user restricting the look to some regions
            d.code = d.code.only_regions([g for g in REGION_GROUPS if r.random() < 0.5])
        if r.random() < 0.05:
            d = Draw(replace(LookCode(), lips_a=d.code.lips_a), [], "empty")
        d.code = d.code.clipped()
        return d

    def target(self, refs: list[int], kind: str, lid_target: bool = True, lips_target: bool = True) -> np.ndarray:
        """What the reference photos themselves measure (the family's looks and reference subsets); the lid's
        (lips') part is NaN where the code's eye shadow (lips) is not the photos' own."""
        if kind not in ("family", "refs") or not refs or any(i not in self.desc for i in refs):
            return np.full(len(TARGET_KEYS), np.nan, np.float32)
        d = robust_mean([self.desc[i] for i in refs])
        out = np.array([d[k] for k in TARGET_KEYS], np.float32)
        if not lid_target:
            out[[TARGET_KEYS.index(k) for k in LID_KEYS]] = np.nan
        if not lips_target:
            out[[TARGET_KEYS.index(k) for k in LIPS_KEYS]] = np.nan
        return out

    def batch(self, n: int) -> Conditions:
        codes = np.zeros((n, len(LookCode().vector())), np.float32)
        sets = np.zeros((n, self.n_refs), np.float32)
        desc = np.zeros((n, len(TARGET_KEYS)), np.float32)
        kinds = []
        for i in range(n):
            d = self.one()
            codes[i] = d.code.vector()
            desc[i] = self.target(d.refs, d.kind, d.lid_target, d.lips_target)
            if d.show_photos and not (d.refs and self.photo_dropout and self.rng.random() < self.photo_dropout):
                sets[i, d.refs] = 1.0
            kinds.append(d.kind)
        return Conditions(codes, sets, kinds, desc)
