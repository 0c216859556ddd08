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
            if not top:
                continue
            subs = [f"{t}.{n}" for n in names if f"{t}.{n}" in MODULES]  # `from pkg import submodule`
            yield from subs if subs else ([t] if t in MODULES else [])

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
