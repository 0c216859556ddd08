"""Regenerate the README's performance table from benchmarks/results/*.json (never by hand)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.harness import markdown_table, validate_result
from livefilter.infra.atomic import write_text

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def build(results_dir: Path = ROOT / "benchmarks" / "results") -> str:
    parts = []
    for path in sorted(results_dir.glob("*.json")):
        doc = json.loads(path.read_text())
        if "runs" not in doc:
            continue  # soak reports and other result files
        validate_result(doc)
        parts.append(markdown_table(doc))
    return "\n".join(parts) or "_no benchmark results committed yet_\n"


def update_readme(readme: Path = ROOT / "README.md") -> bool:
    text = readme.read_text()
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), f"{START}\n{build()}{END}", text, flags=re.S)
    if new != text:
        write_text(readme, new)
    return new != text


if __name__ == "__main__":
    print("README updated" if update_readme() else "README already current")
