"""`pyrogrpc watch` / `pyrogrpc alert watch` / `pyrogrpc incident watch`: print alerts or incident
changes live as JSON lines, resuming after disconnects."""

from __future__ import annotations

import argparse

from .common import EXIT_OK, connection_options, print_json, run_client


def add_parsers(commands) -> None:
    parser = commands.add_parser(
        "watch",
        parents=[connection_options(credentials=True)],
        help="print alerts live as JSON lines (as a user or admin); resumes after disconnects",
        description="Stream the alerts visible to you, one JSON object per line on stdout, as they are created. "
        "The stream reconnects by itself after a network or server failure and continues where it stopped.",
    )
    parser.add_argument(
        "--after-alert-id", type=int, metavar="ID", help="first replay the alerts after this id (0: all)"
    )
    parser.add_argument("--count", type=int, metavar="N", help="exit 0 after N alerts (default: run until interrupted)")
    parser.set_defaults(handler=watch_alerts_command)


def add_incident_watch(verb, incidents) -> None:
    """`pyrogrpc incident watch` (`verb` is operate.py's sub-command factory)."""
    parser = verb(
        incidents,
        "watch",
        "print incident changes live as JSON lines; reconnects by itself",
        watch_incidents_command,
        output=False,
    )
    parser.add_argument(
        "--after-change-id", type=int, metavar="ID", help="first replay the changes after this id (0: all)"
    )
    parser.add_argument(
        "--count", type=int, metavar="N", help="exit 0 after N changes (default: run until interrupted)"
    )


def watch_alerts_command(args: argparse.Namespace) -> int:
    """`pyrogrpc watch` and `pyrogrpc alert watch`."""
    return _print_stream(args, lambda client: client.watch_alerts(args.after_alert_id))


def watch_incidents_command(args: argparse.Namespace) -> int:
    """`pyrogrpc incident watch`."""
    return _print_stream(args, lambda client: client.watch_incidents(args.after_change_id))


def _print_stream(args: argparse.Namespace, open_stream) -> int:
    async def body(client) -> int:
        if args.count is not None and args.count <= 0:
            return EXIT_OK
        received = 0
        items = open_stream(client)
        try:
            async for item in items:
                print_json(item)
                received += 1
                if received == args.count:
                    break
        finally:
            await items.aclose()  # cancels the stream now, not at garbage collection
        return EXIT_OK

    return run_client(args, body)
