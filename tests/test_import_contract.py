"""The import rules of ARCHITECTURE.md ("Dependencies"), checked on the source (an AST walk, nothing imported).

A rule broken by a new import fails here, naming the module and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO_ROOT

PACKAGES = ("livefilter", "exporters", "training", "benchmarks")
KNOWN: set[tuple[str, str]] = set()  # exceptions to the rules below (none now)


def _module(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(imported module, imported names, at module level) for every import of one file."""
    tree = ast.parse(path.read_text("utf-8"))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names], id(node) in top))
    return found


def _all() -> dict[str, list[tuple[str, list[str], bool]]]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO_ROOT / pkg).rglob("*.py")):
            out[_module(path)] = _imports(path)
    return out


MODULES = _all()


# The runtime's layers, bottom up (ARCHITECTURE.md "Dependencies"); a module is in the layer of its longest
# matching prefix. A module imports its own layer or lower ones, never a higher one.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("shared", ("livefilter", "livefilter.types", "livefilter.errors", "livefilter.protocols",
                "livefilter.settings.choices", "livefilter.infra.paths", "livefilter.infra.strict_json")),
    ("infra", ("livefilter.infra",)),
    ("stages", tuple(f"livefilter.{p}" for p in ("sources", "detect", "align", "translate", "composite", "finish",
                                                   "scene", "sinks", "looks", "engines", "reliability", "gpu", "demo"))),
    ("settings", ("livefilter.settings",)),
    ("pipeline", ("livefilter.pipeline",)),
    ("apps", ("livefilter.control", "livefilter.obs")),
    ("cli", ("livefilter.cli", "livefilter.__main__")),
)


def layer_of(mod: str) -> int | None:
    """The index in :data:`LAYERS` of ``mod``'s layer (None: not a runtime module)."""
    best: tuple[int, int] | None = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (mod == p or mod.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return best[0] if best else None


def _targets(t: str, names: list[str]) -> list[str]:
    """The modules an import names: ``from pkg import submodule`` is the submodule."""
    subs = [f"{t}.{n}" for n in names if f"{t}.{n}" in MODULES]
    return subs or ([t] if t in MODULES else [])


def _violations(check) -> list[str]:
    return [f"{mod} imports {target}" + (f" ({', '.join(names)})" if names else "")
            for mod, imports in MODULES.items() for target, names, _ in imports if check(mod, target, names)]


def test_the_runtime_never_imports_the_tools_outside_its_cli():
    def bad(mod, target, names):
        return (mod.startswith("livefilter") and not mod.startswith("livefilter.cli")
                and target.split(".")[0] in ("exporters", "training", "benchmarks"))

    assert not _violations(bad)


def test_the_layers_point_one_way():
    """training -> exporters -> livefilter; benchmarks -> livefilter; nothing imports benchmarks but the CLI."""
    def bad(mod, target, names):
        src, dst = mod.split(".")[0], target.split(".")[0]
        if (mod, target) in KNOWN:
            return False
        return ((src == "exporters" and dst in ("training", "benchmarks"))
                or (src == "training" and dst == "benchmarks"))

    assert not _violations(bad)


def test_the_known_exceptions_are_still_real():
    """An exception that no longer exists must leave the list (so it cannot hide a new one)."""
    present = {(mod, target) for mod, imports in MODULES.items() for target, _, _ in imports}
    assert KNOWN <= present


def test_no_private_names_cross_modules():
    def bad(mod, target, names):
        return target.startswith(PACKAGES) and any(n.startswith("_") and not n.startswith("__") for n in names)

    assert not _violations(bad)


def test_the_shared_types_and_protocols_are_leaves():
    """types.py, errors.py and protocols.py import nothing of livefilter but each other."""
    leaves = {"livefilter.types", "livefilter.errors", "livefilter.protocols"}

    def bad(mod, target, names):
        return mod in leaves and target.startswith("livefilter") and target not in leaves

    assert not _violations(bad)


def test_every_runtime_module_has_a_layer():
    assert not [m for m in MODULES if m.startswith("livefilter") and layer_of(m) is None]


def test_no_import_points_up_the_layers():
    """Stages never import the pipeline, settings, control or CLI; infrastructure never imports a stage."""
    def bad(mod, target, names):
        if not (mod.startswith("livefilter") and target.startswith("livefilter")):
            return False
        return any(layer_of(dst) > layer_of(mod) for dst in _targets(target, names))

    assert not _violations(bad)


def test_stages_do_not_import_the_doctor_or_the_cli():
    def bad(mod, target, names):
        return (mod.startswith("livefilter.") and mod != "livefilter.__main__"
                and not mod.startswith(("livefilter.cli", "livefilter.cli.doctor"))
                and (target.startswith("livefilter.cli") or target == "livefilter.cli.doctor"))

    assert not _violations(bad)


def test_no_import_cycles_at_module_level():
    """Module-level imports form no cycle (imports inside functions are deliberate and lazy)."""
    def targets(imports):
        for t, names, top in imports:
            if top:
                yield from _targets(t, names)

    graph = {mod: {t for t in targets(imports) if t != mod} for mod, imports in MODULES.items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, path + [nxt]):
                return True
        state[node] = 2
        return False

    for mod in graph:
        if state.get(mod) is None and visit(mod, [mod]):
            break
    assert not cycle, " -> ".join(cycle)


def structure() -> dict[str, int]:
    """The runtime's import structure in numbers (``python tests/test_import_contract.py``)."""
    runtime = [m for m in MODULES if m.startswith("livefilter")]
    arrows = [(m, d) for m in runtime for t, names, _ in MODULES[m] if t.startswith("livefilter") for d in _targets(t, names)]
    return {"modules": len(runtime),
            "root modules": sum(1 for m in runtime if m.count(".") == 1 and not any(k.startswith(m + ".") for k in MODULES)),
            "import arrows": len(arrows),
            "arrows up the layers": sum(1 for m, d in arrows if layer_of(d) > layer_of(m))}


if __name__ == "__main__":
    for key, value in structure().items():
        print(f"{key}: {value}")
