"""`pyrogrpc send-alert`: one command for a camera to send a picture and its alert."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from .common import EXIT_OK, connection_options, print_json, run_client


def add_parsers(commands) -> None:
    parser = commands.add_parser(
        "send-alert",
        parents=[connection_options(credentials=True)],
        help="send a picture and an alert (as a camera); prints the alert as JSON",
        description="Create a media, upload the picture (64 KiB chunks, progress on stderr) and create the alert, "
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
        )
        print_json(alert)
        return EXIT_OK

    return run_client(args, body)
