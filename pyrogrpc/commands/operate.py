"""An operator's daily commands, as `pyrogrpc NOUN VERB`:

    group create|list          user create|list          device create|list
    pose create|list|delete    mask create|list|delete
    event list|get|ack|label|triage|alerts                alert list|get|watch
    incident list|get|events|detach|watch
    media get|download|url     export alerts|events       (CSV for a time range)

Lists show the first `--limit` rows (default 50; a note on stderr says when there are
more) or every row with `--all`; the client fetches pages as it goes. Output: see
output.py (`--output table|json`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pyronear.v1 import resources_pb2

from ..client import AsyncPyroClient
from .accounts import group_id_by_name
from .common import EXIT_OK, UsageError, connection_options, read_password, run_client
from .output import add_output_option, print_messages, print_one, write_csv
from .watch import add_incident_watch, watch_alerts_command

T = TypeVar("T")
DEFAULT_LIMIT = 50

POSITION = (
    ("lat", "latitude, degrees"),
    ("lon", "longitude, degrees"),
    ("elevation", "altitude, meters"),
    ("azimuth", "direction faced, degrees clockwise from north"),
    ("pitch", "tilt, degrees above the horizon"),
    ("angle-of-view", "horizontal field of view, degrees"),
)


def timestamp(text: str) -> datetime:
    """ISO 8601 date or date-time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or time: {text!r} (e.g. 2026-07-14 or 2026-07-14T08:30Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# The labels a user gives an event after a look at it (EventLabel without its prefix).
LABELS = {"wildfire": "wildfire_smoke", "other-smoke": "other_smoke", "other": "other"}


def normalized_box(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected X1,Y1,X2,Y2 (four numbers in [0, 1]), got {text!r}")
    return values  # four floats, checked above


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# --- parsers ---------------------------------------------------------------------------


def add_parsers(commands) -> None:
    creds = connection_options(credentials=True)

    def noun(name: str, help: str) -> Any:
        parser = commands.add_parser(name, help=help, description=help)
        return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")

    def verb(nouns, name: str, help: str, handler: Callable[[argparse.Namespace], int], *, output: bool = True):
        parser = nouns.add_parser(name, parents=[creds], help=help, description=help)
        if output:
            add_output_option(parser)
        parser.set_defaults(handler=handler)
        return parser

    def paging(parser: argparse.ArgumentParser) -> None:
        amount = parser.add_mutually_exclusive_group()
        amount.add_argument(
            "--limit",
            type=positive,
            default=DEFAULT_LIMIT,
            metavar="N",
            help=f"show at most N rows (default {DEFAULT_LIMIT})",
        )
        amount.add_argument("--all", action="store_true", help="show every row (pages are fetched as needed)")

    def time_range(parser: argparse.ArgumentParser, required: bool = False) -> None:
        parser.add_argument(
            "--since",
            type=timestamp,
            required=required,
            metavar="TIME",
            help="created at or after TIME (ISO 8601, UTC unless a zone is given)",
        )
        parser.add_argument("--until", type=timestamp, required=required, metavar="TIME", help="created before TIME")
        parser.add_argument("--group-id", type=int, metavar="ID", help="only this group (admins)")

    groups = noun("group", "create and list groups (admins create)")
    parser = verb(groups, "create", "create a group", _group_create)
    parser.add_argument("name", help="name of the group")
    paging(verb(groups, "list", "list groups", _group_list))

    users = noun("user", "create and list users (admins)")
    parser = verb(users, "create", "create a user; its password is asked with a prompt unless given", _user_create)
    parser.add_argument("user_login", metavar="LOGIN", help="login of the new user")
    parser.add_argument("--user-password", help="password of the new user (default: asked with a prompt)")
    parser.add_argument("--scope", choices=["user", "admin"], default="user", help="default: user")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--group-id", type=int, help="id of the user's group")
    target.add_argument("--group", metavar="NAME", help="name of the user's group, created when it does not exist")
    parser = verb(users, "list", "list users (a user sees its group)", _user_list)
    parser.add_argument("--group-id", type=int, metavar="ID", help="only this group")
    paging(parser)

    devices = noun("device", "create and list cameras")
    parser = verb(
        devices, "create", "create a camera owned by a user (admins; users: pyrogrpc register-device)", _device_create
    )
    parser.add_argument("device_login", metavar="LOGIN", help="login of the camera")
    parser.add_argument(
        "--owner-id", type=int, required=True, help="id of the user who owns it (it joins the owner's group)"
    )
    parser.add_argument("--device-password", help="password of the camera (default: asked with a prompt)")
    parser.add_argument("--specs", default="", help="free-text hardware description")
    for name, meaning in POSITION:
        parser.add_argument(f"--{name}", type=float, help=meaning)
    parser = verb(devices, "list", "list cameras", _device_list)
    parser.add_argument("--group-id", type=int, metavar="ID", help="only this group (admins)")
    parser.add_argument("--mine", action="store_true", help="only the cameras you own")
    paging(parser)

    poses = noun("pose", "create, list and delete the poses of a camera (the directions it patrols)")
    parser = verb(poses, "create", "create a pose of a camera", _pose_create)
    parser.add_argument("device_id", type=int, metavar="DEVICE_ID")
    parser.add_argument(
        "--azimuth", type=float, required=True, help="direction faced, degrees clockwise from north [0, 360)"
    )
    parser.add_argument("--patrol-index", type=int, metavar="N", help="order in the patrol (0 first; default: none)")
    parser = verb(poses, "list", "list the poses of a camera", _pose_list)
    parser.add_argument("device_id", type=int, metavar="DEVICE_ID")
    paging(parser)
    parser = verb(poses, "delete", "delete a pose and its masks", _pose_delete, output=False)
    parser.add_argument("pose_id", type=int, metavar="ID")

    masks = noun("mask", "create, list and delete occlusion masks (regions of a pose where detections are ignored)")
    parser = verb(masks, "create", "mask a region of a pose's image", _mask_create)
    parser.add_argument("pose_id", type=int, metavar="POSE_ID")
    parser.add_argument(
        "--box",
        type=normalized_box,
        required=True,
        metavar="X1,Y1,X2,Y2",
        help="the region, normalized to the image ((0, 0) top left, (1, 1) bottom right)",
    )
    parser = verb(masks, "list", "list the masks of a pose", _mask_list)
    parser.add_argument("pose_id", type=int, metavar="POSE_ID")
    paging(parser)
    parser = verb(masks, "delete", "delete a mask", _mask_delete, output=False)
    parser.add_argument("mask_id", type=int, metavar="ID")

    events = noun("event", "list, show, acknowledge and label events")
    parser = verb(events, "list", "list events, newest first", _event_list)
    time_range(parser)
    parser.add_argument(
        "--unacknowledged", action="store_true", help="only events nobody acknowledged yet (no time filter)"
    )
    parser.add_argument("--label", choices=list(LABELS), help="only events with this label")
    paging(parser)
    parser = verb(events, "triage", "list the events nobody labelled yet, newest first", _event_triage)
    paging(parser)
    parser = verb(events, "get", "show one event", _event_get)
    parser.add_argument("event_id", type=int, metavar="ID")
    parser = verb(events, "ack", "acknowledge an event (someone is on it)", _event_ack)
    parser.add_argument("event_id", type=int, metavar="ID")
    parser = verb(
        events,
        "label",
        "say what an event is: wildfire (smoke of a wildfire), other-smoke (chimney, industry, "
        "controlled burn...) or other (clouds, fog, glare...); it also acknowledges the event",
        _event_label,
    )
    parser.add_argument("event_id", type=int, metavar="ID")
    parser.add_argument("label", choices=list(LABELS), metavar="LABEL", help="wildfire, other-smoke or other")
    parser = verb(events, "alerts", "list the alerts of an event", _event_alerts)
    parser.add_argument("event_id", type=int, metavar="ID")
    paging(parser)

    incidents = noun("incident", "list, show and watch incidents (a fire located where cameras' cones cross)")
    parser = verb(incidents, "list", "list incidents, newest first", _incident_list)
    parser.add_argument("--since", type=timestamp, metavar="TIME", help="still seen at or after TIME (ISO 8601)")
    parser.add_argument("--until", type=timestamp, metavar="TIME", help="started before TIME")
    parser.add_argument("--open", action="store_true", help="only open incidents")
    parser.add_argument("--group-id", type=int, metavar="ID", help="only this group (admins)")
    paging(parser)
    parser = verb(incidents, "get", "show one incident (position, cameras, cones)", _incident_get)
    parser.add_argument("incident_id", type=int, metavar="ID")
    parser = verb(incidents, "events", "list the events of an incident", _incident_events)
    parser.add_argument("incident_id", type=int, metavar="ID")
    paging(parser)
    parser = verb(
        incidents,
        "detach",
        "take an event out of an incident (it belongs elsewhere); it is never put back automatically",
        _incident_detach,
    )
    parser.add_argument("incident_id", type=int, metavar="ID")
    parser.add_argument("event_id", type=int, metavar="EVENT_ID")
    add_incident_watch(verb, incidents)

    alerts = noun("alert", "list, show and watch alerts")
    parser = verb(alerts, "list", "list alerts, newest first", _alert_list)
    time_range(parser)
    parser.add_argument("--ongoing", action="store_true", help="only alerts of ongoing events (no time filter)")
    paging(parser)
    parser = verb(alerts, "get", "show one alert", _alert_get)
    parser.add_argument("alert_id", type=int, metavar="ID")
    parser = verb(
        alerts, "watch", "print alerts live as JSON lines; reconnects by itself", watch_alerts_command, output=False
    )
    parser.add_argument(
        "--after-alert-id", type=int, metavar="ID", help="first replay the alerts after this id (0: all)"
    )
    parser.add_argument("--count", type=int, metavar="N", help="exit 0 after N alerts (default: run until interrupted)")

    media = noun("media", "show, download or link a media (a camera's picture)")
    parser = verb(media, "get", "show a media's metadata", _media_get)
    parser.add_argument("media_id", type=int, metavar="ID")
    parser = verb(media, "download", "save a media's content to a file", _media_download, output=False)
    parser.add_argument("media_id", type=int, metavar="ID")
    parser.add_argument("file", type=Path, metavar="FILE", help="where to write it (replaced only once complete)")
    parser = verb(media, "url", "print a temporary URL of a media's content (S3 storage)", _media_url, output=False)
    parser.add_argument("media_id", type=int, metavar="ID")

    export = noun("export", "export alerts or events of a time range as CSV")
    for kind in ("alerts", "events"):
        parser = verb(
            export, kind, f"write the {kind} created in [--since, --until) as CSV, every field", _export, output=False
        )
        time_range(parser, required=True)
        parser.add_argument("--file", type=Path, metavar="PATH", help="CSV file to write (default: standard output)")
        parser.set_defaults(kind=kind)


# --- helpers ---------------------------------------------------------------------------


async def take(items: AsyncIterator[T], args: argparse.Namespace) -> list[T]:
    """The first --limit items (all with --all); a note on stderr when some were left out."""
    limit = None if getattr(args, "all", True) else args.limit
    taken: list[T] = []
    try:
        async for item in items:
            if limit is not None and len(taken) >= limit:
                print(f"(first {limit} shown; --all shows every one, --limit N more)", file=sys.stderr)
                break
            taken.append(item)
    finally:
        await items.aclose()  # type: ignore[attr-defined]
    return taken


def _client_command(body: Callable[[argparse.Namespace, AsyncPyroClient], Any]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def with_client(client: AsyncPyroClient) -> int:
            result = await body(args, client)
            return EXIT_OK if result is None else result

        return run_client(args, with_client)

    return run


def _list(
    source: Callable[[argparse.Namespace, AsyncPyroClient], AsyncIterator[Any]],
) -> Callable[[argparse.Namespace], int]:
    async def body(args: argparse.Namespace, client: AsyncPyroClient) -> None:
        print_messages(args, await take(source(args, client), args))

    return _client_command(body)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until")
    return {"created_after": args.since, "created_before": args.until, "group_id": args.group_id}


def _no_time_filter(args: argparse.Namespace, switch: str) -> None:
    if args.since or args.until or args.group_id:
        raise UsageError(f"{switch} takes no --since, --until or --group-id")


# --- groups, users, devices ------------------------------------------------------------


@_client_command
async def _group_create(args, client):
    print_one(args, await client.create_group(args.name))


_group_list = _list(lambda args, client: client.list_groups())


@_client_command
async def _user_create(args, client):
    password = args.user_password or read_password(f"password of the new user {args.user_login}: ")
    group_id = args.group_id if args.group is None else await group_id_by_name(client, args.group)
    print_one(args, await client.create_user(args.user_login, password, group_id, args.scope))


_user_list = _list(lambda args, client: client.list_users(group_id=args.group_id))


@_client_command
async def _device_create(args, client):
    password = args.device_password or read_password(f"password of the camera {args.device_login}: ")
    position = {name.replace("-", "_"): getattr(args, name.replace("-", "_")) for name, _ in POSITION}
    print_one(
        args, await client.create_device(args.device_login, password, args.owner_id, specs=args.specs, **position)
    )


def _devices(args, client):
    if args.mine:
        if args.group_id:
            raise UsageError("--mine takes no --group-id")
        return client.list_my_devices()
    return client.list_devices(group_id=args.group_id)


_device_list = _list(_devices)


# --- poses, masks ---------------------------------------------------------------------


@_client_command
async def _pose_create(args, client):
    print_one(args, await client.create_pose(args.device_id, args.azimuth, patrol_index=args.patrol_index))


_pose_list = _list(lambda args, client: client.list_poses(args.device_id))


@_client_command
async def _pose_delete(args, client):
    await client.delete_pose(args.pose_id)
    print(f"deleted pose {args.pose_id}", file=sys.stderr)


@_client_command
async def _mask_create(args, client):
    print_one(args, await client.create_occlusion_mask(args.pose_id, *args.box))


_mask_list = _list(lambda args, client: client.list_occlusion_masks(args.pose_id))


@_client_command
async def _mask_delete(args, client):
    await client.delete_occlusion_mask(args.mask_id)
    print(f"deleted mask {args.mask_id}", file=sys.stderr)


# --- events, alerts, media -------------------------------------------------------------


def _events(args, client):
    if args.unacknowledged:
        _no_time_filter(args, "--unacknowledged")
        if args.label:
            raise UsageError("--unacknowledged takes no --label (a labelled event is acknowledged)")
        return client.list_unacknowledged_events()
    return client.list_events(**_filters(args), label=LABELS[args.label] if args.label else None)


_event_list = _list(_events)
_event_triage = _list(lambda args, client: client.list_unlabeled_events())
_event_alerts = _list(lambda args, client: client.list_event_alerts(args.event_id))


@_client_command
async def _event_get(args, client):
    print_one(args, await client.get_event(args.event_id))


@_client_command
async def _event_ack(args, client):
    print_one(args, await client.acknowledge_event(args.event_id))


@_client_command
async def _event_label(args, client):
    print_one(args, await client.label_event(args.event_id, LABELS[args.label]))


def _incidents(args, client):
    if args.since and args.until and args.since >= args.until:
        raise UsageError("--since must be before --until")
    return client.list_incidents(
        start_time=args.since, end_time=args.until, open_only=args.open, group_id=args.group_id
    )


_incident_list = _list(_incidents)
_incident_events = _list(lambda args, client: client.list_incident_events(args.incident_id))


@_client_command
async def _incident_get(args, client):
    print_one(args, await client.get_incident(args.incident_id))


@_client_command
async def _incident_detach(args, client):
    incident, alone = await client.detach_incident_event(args.incident_id, args.event_id)
    print(f"event {args.event_id} is now incident {alone.id}", file=sys.stderr)
    print_one(args, incident)


def _alerts(args, client):
    if args.ongoing:
        _no_time_filter(args, "--ongoing")
        return client.list_ongoing_alerts()
    return client.list_alerts(**_filters(args))


_alert_list = _list(_alerts)


@_client_command
async def _alert_get(args, client):
    print_one(args, await client.get_alert(args.alert_id))


@_client_command
async def _media_get(args, client):
    print_one(args, await client.get_media(args.media_id))


@_client_command
async def _media_download(args, client):
    if not args.file.parent.is_dir():
        raise UsageError(f"folder not found: {args.file.parent}")
    if args.file.is_dir():
        raise UsageError(f"{args.file} is a folder; give a file name")
    media = await client.download_media(args.media_id, args.file)
    print(
        f"saved media {media.id} ({media.size_bytes} bytes, {media.content_type or 'unknown type'}) to {args.file}",
        file=sys.stderr,
    )


@_client_command
async def _media_url(args, client):
    response = await client.get_media_url(args.media_id)
    print(response.url, flush=True)
    expire = response.expire_time.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"(valid until {expire})", file=sys.stderr)


@_client_command
async def _export(args, client):
    filters = _filters(args)
    items = client.list_alerts(**filters) if args.kind == "alerts" else client.list_events(**filters)
    prototype = resources_pb2.Alert() if args.kind == "alerts" else resources_pb2.Event()
    collected = [item async for item in items]
    if args.file is None:
        count = write_csv(collected, prototype, sys.stdout)
        sys.stdout.flush()
    else:
        with args.file.open("w", newline="", encoding="utf-8") as handle:
            count = write_csv(collected, prototype, handle)
    print(f"exported {count} {args.kind}" + (f" to {args.file}" if args.file else ""), file=sys.stderr)
