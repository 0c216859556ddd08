"""The ``livefilter`` command. Each sub-command lives in its own module and registers on ``app``."""

from __future__ import annotations

import importlib
import logging
import sys

import typer
from rich.console import Console

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
    "livefilter.cli.train_cmd",
    "livefilter.cli.family_cmd",
    "livefilter.cli.export_cmd",
    "livefilter.cli.doctor_cmd",
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


def main() -> None:
    """Entry point: user errors become one red line and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=False)
    except LivefilterError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        console.print("[yellow]aborted[/]")
        sys.exit(1)
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
