"""`pyrogrpc` command line: serve, migrate (more commands join as features land)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from .config import ConfigError, Settings

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .db.migrate import SchemaOutdated
    from .server import serve

    try:
        asyncio.run(serve(settings))
    except SchemaOutdated as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from .db.migrate import upgrade

    upgrade(settings.database_url, args.revision)
    print(f"database migrated to {args.revision}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyrogrpc", description="gRPC backend for wildfire detection alerts")
    parser.add_argument("--env-file", default=".env", help="optional .env file read before the environment (default: .env)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gRPC server (embedded SQLite + local media by default)")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.set_defaults(handler=_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env(env_file=args.env_file)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return args.handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
