"""``python -m livefilter`` and the ``livefilter`` console script."""

from livefilter.infra import signals


def main() -> None:
    signals.install()  # first thing, before the heavy imports: a SIGTERM during start-up still exits cleanly
    from livefilter.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
