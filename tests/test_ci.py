"""The CI script: a fresh virtual environment outside the checkout every run, the README's exact test
command inside it, and no silent pass when nothing was collected."""

from __future__ import annotations

import re
import subprocess

from conftest import REPO_ROOT

CI = REPO_ROOT / ".ci" / "run"


def _readme_test_command() -> str:
    text = (REPO_ROOT / "README.md").read_text("utf-8")
    (line,) = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("pip install torch==") and "pytest" in ln]
    return line


def test_ci_runs_the_readme_command_in_a_fresh_venv_outside_the_checkout():
    script = CI.read_text("utf-8")
    lines = [ln.strip() for ln in script.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    command = _readme_test_command()
    at = next(i for i, ln in enumerate(lines) if ln.startswith(command))  # verbatim
    venv = next(i for i, ln in enumerate(lines) if re.search(r'mktemp -d "\$\{TMPDIR:-/tmp\}/', ln))
    made = next(i for i, ln in enumerate(lines) if ln.startswith('python3 -m venv "$venv"'))
    active = next(i for i, ln in enumerate(lines) if ln.startswith('. "$venv/bin/activate"'))
    assert venv < made < active < at  # created and active before anything is installed
    assert "--system-site-packages" not in script
    assert any(ln.startswith("trap ") and 'rm -rf "$venv"' in ln for ln in lines)
    assert re.search(r'if \[ "\$status" -eq 5 \]; then\s+echo "no tests were collected" >&2\s+exit 1', script)
    assert "chromium chromium-driver" in script
    assert subprocess.run(["bash", "-n", str(CI)]).returncode == 0
