"""The backend registry drives doctor, the --backend help, export and bench: a backend added through
it (here by an installed package's ``livefilter.backends`` entry point) shows up in all of them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from conftest import REPO_ROOT
from onnx_looks import make_look

PLUGIN = textwrap.dedent('''
    import numpy as np

    from livefilter.translate.backends import BackendSpec, ExportOutcome, register_backend


    class Inverting:
        """A host translator: the negative of each crop."""

        name = "fake-invert"
        strength_in_network = False

        def __init__(self, look):
            self.input_size = look.input_size

        def __call__(self, crops, style, strength):
            return 255 - crops


    def register():
        register_backend(BackendSpec(
            "fake-invert", lambda look, max_faces, precision: Inverting(look), note="negative crops, for tests",
            in_auto=True, probe=lambda: (True, "fake probe: ready"),
            export=lambda look, req: ExportOutcome(False, f"fake artefact for {look.name} b{req.max_faces}"),
        ))
''')


def _install_plugin(root: Path) -> Path:
    """A minimal installed distribution (module + dist-info with an entry point) under ``root``."""
    root.mkdir()
    (root / "fake_invert_backend.py").write_text(PLUGIN)
    info = root / "fake_invert_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-invert-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[livefilter.backends]\ninvert = fake_invert_backend:register\n")
    return root


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "livefilter", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_backend_registered_by_a_plugin_appears_in_doctor_help_export_and_bench(tmp_path, monkeypatch, request):
    plugin = _install_plugin(tmp_path / "site")
    home = tmp_path / "home"
    make_look(home / "data" / "looks", "shift", kind="shift", size=64)
    env = dict(os.environ, LIVEFILTER_HOME=str(home), COLUMNS="250",
               PYTHONPATH=os.pathsep.join([str(plugin), str(REPO_ROOT)]))

    doctor = _cli("doctor", env=env)
    assert doctor.returncode == 0, doctor.stderr
    assert "fake-invert" in doctor.stdout and "fake probe: ready" in doctor.stdout
    for command in ("run", "demo", "bench"):
        shown = _cli(command, "--help", env=env)
        assert shown.returncode == 0 and "fake-invert" in shown.stdout, (command, shown.stdout)
    run_help = " ".join(_cli("run", "--help", env=env).stdout.split())
    assert "negative crops, for tests" in run_help.replace("│ ", "").replace(" │", "")
    export = _cli("export", "shift", "--backend", "fake-invert", "--max-faces", "3", env=env)
    assert export.returncode == 0, export.stderr
    assert "built" in export.stdout and "fake artefact for shift b3" in export.stdout

    # in this process: the same plugin, registered the same way, is one of bench's usable backends
    # and auto's last resort; its translator really runs
    monkeypatch.syspath_prepend(str(plugin))
    from benchmarks.harness import available_backends
    from livefilter.translate import backends, select

    import fake_invert_backend

    saved = dict(backends.REGISTRY)
    request.addfinalizer(lambda: (backends.REGISTRY.clear(), backends.REGISTRY.update(saved)))  # undone after
    fake_invert_backend.register()
    assert "fake-invert" in available_backends() and backends.auto_order()[-1] == "fake-invert"
    assert "fake-invert" not in backends.gpu_names()
    t = select.create_translator(make_look(tmp_path, "x", kind="shift", size=64), backend="fake-invert")
    crops = np.full((1, 64, 64, 3), 10, np.uint8)
    assert (t(crops, None, np.ones(1, np.float32)) == 245).all()
