"""``livefilter control``: the control panel's stable address; ``--new-token`` / ``--port`` change it."""

from __future__ import annotations

import typer

from livefilter.cli import app
from livefilter.cli.common import out
from livefilter.control.endpoint import rotate_token, set_port, stable_endpoint
from livefilter.settings.userconfig import ConfigStore, check_port


@app.command("control")
def control(
    new_token: bool = typer.Option(False, "--new-token", help="Replace the token: every saved panel / dock URL stops working."),
    port: int = typer.Option(None, "--port", help="Serve the control panel on this port from now on (1024..65535)."),
) -> None:
    """Show the control panel's address (the same every run), or give it a new token or port."""
    store = ConfigStore()
    if port is not None:
        endpoint = set_port(check_port(port), store)
    if new_token:
        endpoint = rotate_token(store)
    endpoint = stable_endpoint(store)
    if new_token or port is not None:
        out.print("[green]saved[/] — a running livefilter keeps its old address until it is restarted", highlight=False)
    out.print("control panel (keep this address private):", highlight=False)
    out.print(endpoint.url, highlight=False, soft_wrap=True, markup=False)
    out.print("OBS dock (compact panel):", highlight=False)
    out.print(endpoint.dock_url, highlight=False, soft_wrap=True, markup=False)
    out.print(f"[dim]settings: {store.path}[/]", highlight=False, soft_wrap=True)
