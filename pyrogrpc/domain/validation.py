"""Input checks shared by the use cases; each failure names the offending field."""

from __future__ import annotations

import math
import re

from .errors import FieldViolation, InvalidArgument
from .security import MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH

_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,99}$")


class Violations:
    """Collects every problem of a request, so the client sees them all at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def check(self, ok: bool, field: str, description: str) -> None:
        if not ok:
            self.items.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)


def check_login(v: Violations, login: str, field: str = "login") -> None:
    v.check(bool(_LOGIN.match(login)), field, "must be 3-100 characters: letters, digits, '_', '.', '@', '-'")


def check_password(v: Violations, password: str, field: str = "password") -> None:
    v.check(len(password) >= MIN_PASSWORD_LENGTH, field, f"must be at least {MIN_PASSWORD_LENGTH} characters")
    v.check(len(password.encode()) <= MAX_PASSWORD_BYTES, field, f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8")
    # bcrypt stops at the first NUL: "\x00" * 8 would be stored as the empty password.
    v.check("\x00" not in password, field, "must not contain NUL characters")


def check_name(v: Violations, name: str, field: str = "name", max_length: int = 100) -> None:
    v.check(
        0 < len(name.strip()) <= max_length and name == name.strip() and "\x00" not in name,
        field,
        f"must be 1-{max_length} characters, without surrounding spaces or NUL characters",
    )


def check_text(v: Violations, text: str, field: str, max_length: int, *, required: bool = False) -> None:
    """Free text: PostgreSQL refuses NUL characters, and a column's length is a hard limit."""
    if required and not text.strip():
        v.check(False, field, "must not be empty")
    elif len(text) > max_length:
        v.check(False, field, f"must be at most {max_length} characters")
    else:
        v.check("\x00" not in text, field, "must not contain NUL characters")


def check_range(
    v: Violations, value: float | None, field: str, low: float, high: float, *, high_open: bool = False
) -> None:
    """Also refuses NaN and infinities, which compare false against any bound."""
    if value is None:
        return
    ok = math.isfinite(value) and low <= value and (value < high if high_open else value <= high)
    v.check(ok, field, f"must be in [{low}, {high}{')' if high_open else ']'}")


def check_position(v: Violations, lat: float | None, lon: float | None, prefix: str = "") -> None:
    check_range(v, lat, f"{prefix}lat", -90.0, 90.0)
    check_range(v, lon, f"{prefix}lon", -180.0, 180.0)


def check_azimuth(v: Violations, azimuth: float | None, field: str = "azimuth") -> None:
    check_range(v, azimuth, field, 0.0, 360.0, high_open=True)


def check_request_id(v: Violations, request_id: str, field: str = "request_id") -> None:
    v.check(len(request_id) <= 128, field, "must be at most 128 characters")
    v.check("\x00" not in request_id, field, "must not contain NUL characters")  # PostgreSQL refuses them
