"""`pyrogrpc create-user` (admin) and `pyrogrpc register-device` (user or admin)."""

from __future__ import annotations

import argparse
import sys

from .common import EXIT_OK, connection_options, print_json, read_password, run_client


def add_parsers(commands) -> None:
    parser = commands.add_parser(
        "create-user",
        parents=[connection_options(credentials=True)],
        help="create a user (as an admin); prints the user as JSON",
        description="Create a user with an admin's credentials (--login/--password or PYRO_LOGIN/PYRO_PASSWORD).",
    )
    parser.add_argument("--user-login", required=True, help="login of the new user")
    parser.add_argument(
        "--user-password", help="password of the new user, 8 to 72 bytes (default: asked with a prompt)"
    )
    parser.add_argument(
        "--scope", choices=["user", "admin"], default="user", help="scope of the new user (default: user)"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--group-id", type=int, help="id of the user's group")
    target.add_argument("--group", metavar="NAME", help="name of the user's group, created when it does not exist")
    parser.set_defaults(handler=_create_user)

    parser = commands.add_parser(
        "register-device",
        parents=[connection_options(credentials=True)],
        help="register a camera you own (as a user); prints the device as JSON",
        description="Register a camera owned by the caller (--login/--password or PYRO_LOGIN/PYRO_PASSWORD): "
        "it joins the caller's group, with scope device.",
    )
    parser.add_argument("--device-login", required=True, help="login of the camera")
    parser.add_argument("--device-password", help="password of the camera (default: asked with a prompt)")
    parser.add_argument("--specs", default="", help="free-text hardware description")
    parser.add_argument("--software-hash", help="hash of the software the camera runs")
    for name, meaning in (
        ("lat", "latitude, degrees"),
        ("lon", "longitude, degrees"),
        ("elevation", "altitude, meters"),
        ("azimuth", "direction faced, degrees clockwise from north"),
        ("pitch", "tilt, degrees above the horizon"),
        ("angle-of-view", "horizontal field of view, degrees"),
    ):
        parser.add_argument(f"--{name}", type=float, help=meaning)
    parser.set_defaults(handler=_register_device)


async def group_id_by_name(client, name: str) -> int:
    """The id of group `name`, created when missing (a note on stderr says so)."""
    return await _group_id(client, name)


async def _group_id(client, name: str) -> int:
    async for group in client.list_groups():
        if group.name == name:
            return group.id
    group = await client.create_group(name)
    print(f"created group {name!r} (id {group.id})", file=sys.stderr)
    return group.id


def _create_user(args: argparse.Namespace) -> int:
    async def body(client) -> int:
        password = args.user_password or read_password(f"password of the new user {args.user_login}: ")
        group_id = args.group_id if args.group is None else await _group_id(client, args.group)
        print_json(await client.create_user(args.user_login, password, group_id, args.scope))
        return EXIT_OK

    return run_client(args, body)


def _register_device(args: argparse.Namespace) -> int:
    async def body(client) -> int:
        password = args.device_password or read_password(f"password of the camera {args.device_login}: ")
        device = await client.register_device(
            args.device_login,
            password,
            specs=args.specs,
            software_hash=args.software_hash,
            lat=args.lat,
            lon=args.lon,
            elevation=args.elevation,
            azimuth=args.azimuth,
            pitch=args.pitch,
            angle_of_view=args.angle_of_view,
        )
        print_json(device)
        return EXIT_OK

    return run_client(args, body)
