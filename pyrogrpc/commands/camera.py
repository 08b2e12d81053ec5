"""`pyrogrpc send-alert`: one command for a camera to send a picture and its alert."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .common import EXIT_OK, connection_options, print_json, run_client


def add_parsers(commands) -> None:
    parser = commands.add_parser(
        "send-alert",
        parents=[connection_options(credentials=True)],
        help="send a picture and an alert (as a camera); prints the alert as JSON",
        description="Send the alert and its picture in one SendAlert call (64 KiB chunks, progress on stderr), "
        "with the camera's credentials (--login/--password or PYRO_LOGIN/PYRO_PASSWORD). Retries are safe: "
        "run it again with the same --request-id after a failure (exit 3) and no second alert is created.",
    )
    parser.add_argument("--image", required=True, type=Path, metavar="FILE", help="picture (JPEG, PNG or WebP)")
    parser.add_argument("--azimuth", type=float, help="direction of the detection, degrees (default: the camera's)")
    parser.add_argument("--lat", type=float, help="latitude (default: the camera's)")
    parser.add_argument("--lon", type=float, help="longitude (default: the camera's)")
    parser.add_argument(
        "--localization",
        default="",
        metavar="JSON",
        help="bounding boxes of the detection relative to the picture: [[xmin, ymin, xmax, ymax, confidence], ...]",
    )
    parser.add_argument("--event-id", type=int, help="event to attach the alert to (default: the server groups alerts)")
    parser.add_argument(
        "--box",
        action="append",
        type=_box,
        default=[],
        metavar="X1,Y1,X2,Y2,CONF",
        help="a detection box normalized to the image, with its confidence (repeat for several)",
    )
    parser.add_argument("--pose", type=int, metavar="ID", help="pose the frame was taken from (one of the camera's)")
    parser.add_argument(
        "--capture-time",
        type=_capture_time,
        metavar="ISO-8601",
        help="when the frame was taken, e.g. 2026-07-01T12:00:00Z (default: now)",
    )
    parser.add_argument("--request-id", help="idempotency key of this alert (default: a new UUID)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(handler=_send_alert)


class ProgressLine:
    """Upload progress on stderr: one line rewritten in place on a terminal, else every 10%."""

    def __init__(self, name: str, stream: TextIO):
        self.name, self.stream = name, stream
        self.tty = stream.isatty()
        self.shown = -1

    def __call__(self, sent: int, total: int) -> None:
        percent = 100 if total == 0 else sent * 100 // total
        if sent == 0:
            self.shown = -1  # first attempt, or an upload restarted after a lost link
        if self.tty:
            end = "\n" if sent == total else ""
            self.stream.write(f"\ruploading {self.name}: {sent}/{total} bytes ({percent}%){end}")
        elif percent // 10 > self.shown // 10 or (sent == total and self.shown < 100):
            self.stream.write(f"uploading {self.name}: {sent}/{total} bytes ({percent}%)\n")
        else:
            return
        self.shown = percent
        self.stream.flush()


def _box(text: str) -> tuple[float, float, float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 5:
        raise argparse.ArgumentTypeError(f"expected X1,Y1,X2,Y2,CONF (five numbers), got {text!r}")
    return values  # five floats, checked above


def _capture_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time such as 2026-07-01T12:00:00Z, got {text!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _send_alert(args: argparse.Namespace) -> int:
    async def body(client) -> int:
        progress = None if args.quiet else ProgressLine(args.image.name, sys.stderr)
        alert = await client.send_alert(
            args.image,
            azimuth=args.azimuth,
            lat=args.lat,
            lon=args.lon,
            localization=args.localization,
            request_id=args.request_id,
            event_id=args.event_id,
            progress=progress,
            boxes=args.box,
            pose_id=args.pose,
            capture_time=args.capture_time,
        )
        print_json(alert)
        return EXIT_OK

    return run_client(args, body)
