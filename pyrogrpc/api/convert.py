"""Message <-> domain translation shared by the servicers.

Resource messages are filled field by field from the row attribute of the same name
(the proto, domain and database share names). Enum values map by name: domain "no_alert"
<-> SITE_TYPE_NO_ALERT. Timestamps are timezone-aware UTC datetimes on the domain side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from pyronear.v1 import resources_pb2

from ..domain.errors import FieldViolation, InvalidArgument
from ..domain.paging import Page, PageRequest
from ..domain.principal import Scope

M = TypeVar("M", bound=Message)

_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def set_timestamp(stamp: timestamp_pb2.Timestamp, value: datetime) -> None:
    """`stamp.FromDatetime(value)` without its pure-Python calendar math, 3x faster: it runs
    for every timestamp of every row of every list. Naive datetimes are UTC, as there."""
    delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    stamp.seconds = delta.days * 86400 + delta.seconds
    stamp.nanos = delta.microseconds * 1000


def to_timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    set_timestamp(stamp, value)
    return stamp


def from_timestamp(message: Message, field: str) -> datetime | None:
    """The datetime of a Timestamp field, or None when it is unset."""
    if not message.HasField(field):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    if not 0 <= stamp.nanos < 1_000_000_000:
        raise InvalidArgument("has invalid nanos", field=field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument("is out of range", field=field) from None


def optional(message: Message, field: str) -> Any:
    """Value of a proto3 `optional` field, None when unset."""
    return getattr(message, field) if message.HasField(field) else None


# --- enums -------------------------------------------------------------------------


@cache
def _enum_prefix(enum: EnumDescriptor) -> str:
    return enum.values_by_number[0].name.removesuffix("UNSPECIFIED")


def enum_to_proto(enum: EnumDescriptor, value: str) -> Any:  # a generated enum ValueType
    return enum.values_by_name[_enum_prefix(enum) + value.upper()].number


def enum_from_proto(enum: EnumDescriptor, number: int, field: str, *, required: bool = True) -> str | None:
    """Domain value of an enum field; UNSPECIFIED is None (or INVALID_ARGUMENT when required)."""
    value = enum.values_by_number.get(number)
    if value is None or number == 0:
        if required or value is None:
            allowed = ", ".join(v.name for v in enum.values if v.number)
            raise InvalidArgument(f"must be one of {allowed}", field=field)
        return None
    return value.name.removeprefix(_enum_prefix(enum)).lower()


def scope_from_proto(number: int, field: str = "scope") -> Scope:
    value = enum_from_proto(resources_pb2.Scope.DESCRIPTOR, number, field)
    assert value is not None  # required: UNSPECIFIED raised InvalidArgument
    return Scope(value)


# --- rows -> resource messages -------------------------------------------------------


@cache
def _plan(descriptor: Descriptor) -> tuple[tuple[str, ...], tuple[tuple[str, EnumDescriptor], ...], tuple[str, ...]]:
    """(scalar fields, enum fields with their enum, timestamp fields) of a message."""
    scalars, enums, stamps = [], [], []
    for field in descriptor.fields:
        if field.message_type is not None and field.is_repeated:
            continue  # lists of messages (Alert.boxes, Device.poses) are never a row's column: callers fill them
        if field.message_type is not None and field.message_type.full_name == _TIMESTAMP:
            stamps.append(field.name)
        elif field.enum_type is not None:
            enums.append((field.name, field.enum_type))
        else:
            scalars.append(field.name)
    return tuple(scalars), tuple(enums), tuple(stamps)


def _reader(row: Any, overrides: dict[str, Any]) -> Callable[[str], Any]:
    """name -> value of `row` (None when absent). Every repository result is an object with
    the fields as attributes (read model, record or ORM object), so one way of reading fits all."""
    if not overrides:
        return lambda name: getattr(row, name, None)
    return lambda name: overrides[name] if name in overrides else getattr(row, name, None)


def to_proto(message_type: type[M], row: Any, **overrides: Any) -> M:
    """Build `message_type` from the attributes of `row` (overrides win); None leaves a field unset."""
    scalars, enums, stamps = _plan(message_type.DESCRIPTOR)
    read = _reader(row, overrides)
    values: dict[str, Any] = {}
    for name in scalars:
        value = read(name)
        if value is not None:
            values[name] = value
    for name, enum in enums:
        value = read(name)
        if value is not None:
            values[name] = enum_to_proto(enum, value)
    message = message_type(**values)  # one call instead of a setattr per field
    for name in stamps:
        value = read(name)
        if value is not None:
            set_timestamp(getattr(message, name), value)
    return message


def user_to_proto(user: Any):
    """A user's login, scope and group live in its access row."""
    access = user.access
    return to_proto(resources_pb2.User, user, login=access.login, scope=access.scope, group_id=access.group_id)


def device_to_proto(device: Any):
    # A device model carries its login in `access`; a read-only row (Heartbeat) as `login`.
    access = getattr(device, "access", None)
    return to_proto(resources_pb2.Device, device, login=device.login if access is None else access.login)


# --- requests -> domain --------------------------------------------------------------


def page_request(request: Any, *, with_dates: bool = False) -> PageRequest:
    """`request`: any List request (page_size, page_token, optionally created_after/before)."""
    created_after = from_timestamp(request, "created_after") if with_dates else None
    created_before = from_timestamp(request, "created_before") if with_dates else None
    return PageRequest.parse(request.page_size, request.page_token, created_after, created_before)


def page_response(response_type: Callable[..., M], field: str, page: Page[Any], convert: Callable[[Any], Any]) -> M:
    response = response_type(next_page_token=page.next_page_token, total_size=page.total_size)
    getattr(response, field).extend(convert(item) for item in page.items)
    return response


def changes_from_mask(
    resource: Message, mask: field_mask_pb2.FieldMask, allowed: Iterable[str], *, prefix: str
) -> dict[str, Any]:
    """{path: domain value} for each path of an update mask; unset optional fields become None.

    `prefix` is the request field holding the resource (for violation paths such as "site.lat").
    """
    allowed = set(allowed)
    if not mask.paths:
        raise InvalidArgument(
            f"must list the fields to change, among: {', '.join(sorted(allowed))}", field="update_mask"
        )
    unknown = [path for path in mask.paths if path not in allowed]
    if unknown:
        raise InvalidArgument(
            [
                FieldViolation("update_mask", f"cannot change {path!r}; allowed: {', '.join(sorted(allowed))}")
                for path in unknown
            ]
        )
    fields = resource.DESCRIPTOR.fields_by_name
    changes: dict[str, Any] = {}
    for path in mask.paths:
        # The upb (C) and Python descriptor classes are one at runtime; the stubs tell them apart.
        field: FieldDescriptor = fields[path]  # type: ignore[assignment]
        if field.message_type is not None and field.message_type.full_name == _TIMESTAMP:
            changes[path] = from_timestamp(resource, path)
        elif field.enum_type is not None:
            changes[path] = enum_from_proto(field.enum_type, getattr(resource, path), f"{prefix}.{path}")
        elif field.has_presence:
            changes[path] = optional(resource, path)
        else:
            changes[path] = getattr(resource, path)
    return changes
