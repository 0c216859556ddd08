"""The ``livefilter`` command. Each sub-command lives in its own module and registers on ``app``."""

from __future__ import annotations

import errno
import importlib
import logging
import sys

import typer
from rich.console import Console

from livefilter.infra import signals
from livefilter.cli.common import error_line
from livefilter.errors import LivefilterError

app = typer.Typer(
    name="livefilter",
    help="Real-time GAN looks on every face of a live camera feed, sent to a virtual camera.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

# One module per command group; each defines its commands on ``app``.
_COMMAND_MODULES = (
    "livefilter.cli.run_cmd",
    "livefilter.cli.demo_cmd",
    "livefilter.cli.bench_cmd",
    "livefilter.cli.looks_cmd",
    "livefilter.cli.create_cmd",
    "livefilter.cli.eval_cmd",
    "livefilter.cli.family_cmd",
    "livefilter.cli.export_cmd",
    "livefilter.cli.doctor_cmd",
    "livefilter.cli.control_cmd",
    "livefilter.cli.obs_cmd",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(_name)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show debug logging."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


PATH_ERRNOS = {errno.ENAMETOOLONG, errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR,
               errno.EISDIR, errno.ELOOP, errno.EDQUOT}


def describe_os_error(e: OSError) -> str:
    """One line for a file-system error: what happened and to which path (shortened, escaped)."""
    from livefilter.infra.terminal_text import shortened

    what = e.strerror or type(e).__name__
    if e.errno == errno.ENAMETOOLONG:
        what = "a file or folder name is too long (at most 255 bytes per name)"
    path = e.filename if e.filename is not None else e.filename2
    return f"{what}: {shortened(path, 120)}" if path is not None else what


def main(application: typer.Typer = app, prog_name: str = "livefilter") -> None:
    """Entry point (of ``livefilter``, or of another typer ``application`` such as the research commands):
    user errors become one red line and a non-zero exit, never a traceback.

    Usage errors (unknown command or option, a bad value) are reported by typer itself in standalone
    mode, as its usage message and exit code 2; the project never imports ``click`` directly (typer
    may ship its own copy of it).
    """
    try:
        signals.started()
        application(standalone_mode=True, prog_name=prog_name)
    except LivefilterError as e:
        console.print(error_line(e), highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:  # a signal outside the command (typer turns one inside into an exit)
        signum = signals.received() or 2
        console.print(f"[yellow]interrupted ({signals.name(signum)})[/]", highlight=False)
        sys.exit(signals.exit_code(signum))
    except SystemExit as e:
        signum = signals.received()
        if signum is not None:  # stopped by Ctrl-C / SIGTERM (after finalising): the conventional code
            if e.code not in (0, None):  # typer ends an interrupted command silently
                console.print(f"[yellow]interrupted ({signals.name(signum)})[/]", highlight=False)
            sys.exit(signals.exit_code(signum))
        raise
    except OSError as e:
        # what the file system says about a path the user gave (a name over 255 bytes, a read-only or
        # full disk, no permission): one line, as any user error; anything else is a bug and stays loud
        if signals.received() is None and e.errno in PATH_ERRNOS:
            console.print(error_line(LivefilterError(describe_os_error(e))), highlight=False, soft_wrap=True)
            sys.exit(1)
        _interrupted_or_raise()
    except Exception:
        _interrupted_or_raise()


def _interrupted_or_raise() -> None:
    """Inside an ``except``: a signal raised inside an import or a C extension comes back wrapped (onnxruntime
    turns it into "ImportError: initialization failed"); once a signal arrived, this is that interruption.
    Otherwise the exception is a bug and is raised again."""
    signum = signals.received()
    if signum is None:
        raise  # noqa: PLE0704 - re-raises the exception being handled by the caller
    console.print(f"[yellow]interrupted ({signals.name(signum)})[/]", highlight=False)
    sys.exit(signals.exit_code(signum))
