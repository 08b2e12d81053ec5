"""What every client command shares: connection options, credentials, exit codes, output.

Exit codes a shell script can rely on:
  0  done
  1  the server refused the call (the status name and message go to stderr)
  2  usage or configuration error (bad flags, no credentials, unreadable file)
  3  server unreachable or unavailable (UNAVAILABLE, DEADLINE_EXCEEDED): retry later
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from ..client import AsyncPyroClient, MissingCredentials, ServerUnreachable
from ..client.channel import DEFAULT_SERVER

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_INTERRUPTED = 130

_RETRY_LATER = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class UsageError(Exception):
    """A usage or configuration problem found after parsing (exit code 2)."""


def connection_options(credentials: bool) -> argparse.ArgumentParser:
    """Options shared by client commands (an argparse parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--server", metavar="HOST:PORT", help=f"server address (default: $PYRO_SERVER or {DEFAULT_SERVER})"
    )
    group.add_argument("--secure", action="store_true", help="use TLS (default: plaintext, fine on loopback or a VPN)")
    group.add_argument(
        "--root-certs", metavar="PEM", type=Path, help="CA certificates for --secure (default: system roots)"
    )
    group.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="give up connecting after this long (default: 10), exit 3",
    )
    group.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="deadline of each call (default: 30)"
    )
    if credentials:
        group.add_argument("--login", help="your login (default: $PYRO_LOGIN)")
        group.add_argument(
            "--password",
            help="your password (default: $PYRO_PASSWORD, else asked with a prompt; avoid it: "
            "a command line is visible to other users of the machine)",
        )
    return parent


def read_password(prompt: str) -> str:
    """Ask for a password without echo (from stdin when it is not a terminal)."""
    try:
        password = getpass.getpass(prompt)
    except EOFError:
        password = ""
    if not password:
        raise UsageError(f"no password given ({prompt.strip().rstrip(':')})")
    return password


def open_client(args: argparse.Namespace) -> AsyncPyroClient:
    root_certificates = None
    if args.root_certs is not None:
        if not args.secure:
            raise UsageError("--root-certs needs --secure")
        root_certificates = args.root_certs.read_bytes()
    login = getattr(args, "login", None) or os.environ.get("PYRO_LOGIN")
    password = getattr(args, "password", None)
    if password is None and login == os.environ.get("PYRO_LOGIN"):
        # PYRO_PASSWORD belongs to PYRO_LOGIN: never sent for another --login.
        password = os.environ.get("PYRO_PASSWORD")
    if hasattr(args, "login") and login and not password:
        password = read_password(f"password of {login}: ")
    return AsyncPyroClient(
        args.server or os.environ.get("PYRO_SERVER") or DEFAULT_SERVER,
        login=login,
        password=password,
        secure=args.secure,
        root_certificates=root_certificates,
        timeout=args.timeout,
    )


def run_client(args: argparse.Namespace, body: Callable[[AsyncPyroClient], Awaitable[int]]) -> int:
    """Connect, run `body(client)`, and turn every failure into a message and an exit code."""

    async def main() -> int:
        async with open_client(args) as client:  # may prompt for the password first
            await client.wait_ready(args.connect_timeout)
            return await body(client)

    try:
        return asyncio.run(main())
    except grpc.aio.AioRpcError as error:
        print(describe_rpc_error(error), file=sys.stderr)
        return EXIT_UNREACHABLE if error.code() in _RETRY_LATER else EXIT_FAILURE
    except ServerUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except MissingCredentials:
        print(
            "error: no credentials: pass --login and --password, or set PYRO_LOGIN and PYRO_PASSWORD", file=sys.stderr
        )
        return EXIT_CONFIG
    except FileNotFoundError as error:
        print(f"error: file not found: {error.filename}", file=sys.stderr)
        return EXIT_CONFIG
    except IsADirectoryError as error:
        print(f"error: {error.filename} is a folder, not a file", file=sys.stderr)
        return EXIT_CONFIG
    except PermissionError as error:
        print(f"error: permission denied: {error.filename}", file=sys.stderr)
        return EXIT_CONFIG
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def describe_rpc_error(error: grpc.aio.AioRpcError) -> str:
    # pyrogrpc's messages already name every invalid field ("field: problem; ...").
    if error.code() in _RETRY_LATER:
        return f"error: {error.code().name}: {error.details()} (the server is unreachable or busy: retry later)"
    return f"error: {error.code().name}: {error.details()}"


def print_json(message: Message) -> None:
    """One line of proto3 JSON with the proto field names (int64 values are strings, as in grpcurl)."""
    print(
        json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=True), separators=(",", ":")),
        flush=True,
    )
