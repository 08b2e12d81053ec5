"""How client commands print resources: an aligned table for people, JSON lines for scripts,
CSV for spreadsheets.

`--output table|json` (default: table when stdout is a terminal, json otherwise). JSON is
one object per line (proto3 JSON with the proto field names; int64 values are strings, as
in grpcurl), so lists stream and `jq` reads them. Tables and CSV show times in ISO 8601
UTC, enums by their short name (`SCOPE_USER` -> `user`; unspecified: empty) and boxes on one
line (`X1,Y1,X2,Y2`, detections `X1,Y1,X2,Y2:CONFIDENCE`, several separated by spaces).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# Columns of the table per resource (CSV always has every field); others: every field.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "Alert": ("id", "event_id", "device_id", "group_id", "media_id", "azimuth", "lat", "lon", "create_time"),
    "Event": ("id", "group_id", "type", "lat", "lon", "start_time", "end_time", "is_acknowledged", "label"),
    "Pose": ("id", "device_id", "azimuth", "patrol_index", "image_media_id", "create_time"),
    "OcclusionMask": ("id", "pose_id", "box", "create_time"),
    "Device": ("id", "login", "owner_id", "group_id", "lat", "lon", "azimuth", "last_ping_time"),
    "Media": ("id", "device_id", "group_id", "type", "size_bytes", "content_type", "create_time"),
}


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        "-o",
        choices=["table", "json"],
        default=None,
        help="table (default on a terminal) or json: one object per line (default otherwise)",
    )


def output_format(args: argparse.Namespace, stream: IO[str] | None = None) -> str:
    chosen = getattr(args, "output", None)
    if chosen:
        return chosen
    return "table" if (stream or sys.stdout).isatty() else "json"


def json_line(message: Message) -> str:
    return json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=True), separators=(",", ":"))


def _part(value: Any) -> str:
    """One element of a repeated field, on one line: boxes as X1,Y1,X2,Y2[:CONFIDENCE]."""
    if not isinstance(value, Message):
        return str(value)
    if value.DESCRIPTOR.full_name == "pyronear.v1.NormalizedBox":
        return ",".join(f"{getattr(value, edge):g}" for edge in ("x_min", "y_min", "x_max", "y_max"))
    if value.DESCRIPTOR.full_name == "pyronear.v1.DetectionBox":
        return f"{_part(value.box)}:{value.confidence:g}"  # type: ignore[attr-defined]
    return json_line(value)


def cell(message: Message, field: FieldDescriptor) -> str:
    """One field as text for a table or CSV; empty when an optional field is unset."""
    if field.is_repeated:
        return " ".join(_part(value) for value in getattr(message, field.name))
    if field.message_type is not None and field.message_type.full_name == "google.protobuf.Timestamp":
        if not message.HasField(field.name):
            return ""
        return getattr(message, field.name).ToDatetime().strftime("%Y-%m-%dT%H:%M:%SZ")
    if field.has_presence and not message.HasField(field.name):
        return ""
    value: Any = getattr(message, field.name)
    if field.message_type is not None and field.message_type.full_name == "pyronear.v1.NormalizedBox":
        return _part(value)
    if field.enum_type is not None:
        name = field.enum_type.values_by_number[value].name
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", field.enum_type.name).upper() + "_"  # MediaType -> MEDIA_TYPE_
        short = name.removeprefix(prefix).lower()
        return "" if short == "unspecified" else short  # e.g. an event nobody labelled yet
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _fields(message: Message, columns: Sequence[str] | None) -> list[FieldDescriptor]:
    by_name: Any = message.DESCRIPTOR.fields_by_name  # upb's and the pure-Python descriptor types differ
    names = columns if columns is not None else [field.name for field in message.DESCRIPTOR.fields]
    fields: list[FieldDescriptor] = [by_name[name] for name in names]
    return fields


def print_table(messages: Sequence[Message], stream: IO[str] | None = None) -> None:
    stream = stream or sys.stdout
    if not messages:
        print("(none)", file=stream)
        return
    fields = _fields(messages[0], TABLE_COLUMNS.get(messages[0].DESCRIPTOR.name))
    rows = [[field.name.upper() for field in fields]]
    rows += [[cell(message, field) for field in fields] for message in messages]
    widths = [max(len(row[i]) for row in rows) for i in range(len(fields))]
    for row in rows:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip(), file=stream)
    stream.flush()


def print_messages(args: argparse.Namespace, messages: Iterable[Message]) -> int:
    """Print in the chosen format; returns how many were printed."""
    if output_format(args) == "json":
        count = 0
        for message in messages:
            print(json_line(message), flush=True)
            count += 1
        return count
    collected = list(messages)
    print_table(collected)
    return len(collected)


def print_one(args: argparse.Namespace, message: Message) -> None:
    """A single resource: JSON, or a two-column field/value listing."""
    if output_format(args) == "json":
        print(json_line(message), flush=True)
        return
    fields = _fields(message, None)
    width = max(len(field.name) for field in fields)
    for field in fields:
        print(f"{field.name.ljust(width)}  {cell(message, field)}")
    sys.stdout.flush()


def write_csv(messages: Iterable[Message], prototype: Message, stream: IO[str]) -> int:
    """Every field of each message, one row each, under a header of the proto field names."""
    fields = _fields(prototype, None)
    writer = csv.writer(stream)
    writer.writerow([field.name for field in fields])
    count = 0
    for message in messages:
        writer.writerow([cell(message, field) for field in fields])
        count += 1
    return count
