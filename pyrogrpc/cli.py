"""`pyrogrpc` command line: `serve` and `migrate` (server side, read the server settings);
client commands (`health`, `create-user`, `register-device`, `send-alert`, `watch`) live
in pyrogrpc/commands/ and read only their flags and PYRO_* variables.

`main()` returns the exit code (see pyrogrpc/commands/common.py), also for usage errors,
so tests and scripts can call it in-process.
"""

from __future__ import annotations

import argparse
import sys

from .commands import CLIENT_COMMAND_MODULES
from .commands.common import EXIT_CONFIG, EXIT_OK
from .config import ConfigError, Settings
from .logs import configure_logging


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .workers import Supervisor, check_workers, run_server

    configure_logging(args.log_level, settings.log_format)
    try:
        check_workers(settings, args.workers)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if args.workers == 1:
        return run_server(settings)
    return Supervisor(settings, args.workers, args.log_level).run()


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from .db.migrate import upgrade

    upgrade(settings.database_url, args.revision)
    print(f"database migrated to {args.revision}")
    return EXIT_OK


def _with_settings(command):
    """Server commands read the server settings; client commands never do (a camera has none)."""

    def run(args: argparse.Namespace) -> int:
        try:
            settings = Settings.from_env(env_file=args.env_file)
        except ConfigError as error:
            print(f"configuration error: {error}", file=sys.stderr)
            return EXIT_CONFIG
        return command(args, settings)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyrogrpc", description="gRPC backend for wildfire detection alerts")
    parser.add_argument(
        "--env-file", default=".env", help="optional .env file read before the environment (default: .env)"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gRPC server (embedded SQLite + local media by default)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the ports, e.g. one per core (PostgreSQL only; default: 1)",
    )
    serve.set_defaults(handler=_with_settings(_serve))

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.set_defaults(handler=_with_settings(_migrate))

    for module in CLIENT_COMMAND_MODULES:
        module.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # --help (0) or a usage error (2, message already on stderr)
        return exit.code if isinstance(exit.code, int) else EXIT_CONFIG
    configure_logging(args.log_level)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
