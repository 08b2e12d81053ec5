"""Keyset pagination: newest first by id, with an opaque token holding the last id served.

Keyset (WHERE id < last) instead of OFFSET: every row is returned exactly once even while
new rows arrive, and deep pages cost the same as the first.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from .errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_TOKEN_PREFIX = "v1:"

T = TypeVar("T", covariant=True)  # a frozen page of records is a page of their Protocol


@dataclass(frozen=True)
class PageRequest:
    size: int = DEFAULT_PAGE_SIZE
    before_id: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    @classmethod
    def parse(
        cls,
        page_size: int,
        page_token: str,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> PageRequest:
        if page_size < 0:
            raise InvalidArgument("must not be negative", field="page_size")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        if created_after and created_before and created_after >= created_before:
            raise InvalidArgument("must be before created_before", field="created_after")
        return cls(size, decode_page_token(page_token), created_after, created_before)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_page_token: str = ""
    # Rows matching the request over all pages (AIP-158 total_size).
    total_size: int = 0


# Ids are BIGINT (signed 64-bit) in every table: a larger id in a token can match no row and
# would overflow the query parameter (INTERNAL) on both databases.
MAX_ID = 2**63 - 1
# The longest token encode_page_token makes (the largest id); anything longer is refused
# before it is decoded.
MAX_TOKEN_LENGTH = len(base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{MAX_ID}".encode()).rstrip(b"="))
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")


def encode_page_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int | None:
    """The id in a token made by `encode_page_token`; anything else is INVALID_ARGUMENT.

    Only the exact text this API hands out is accepted (no padding, no sign, no leading
    zeros, no spaces): one id has one token, and garbage never reaches the database.
    """
    if not token:
        return None
    if len(token) <= MAX_TOKEN_LENGTH:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raw = ""
        digits = raw.removeprefix(_TOKEN_PREFIX)
        if raw.startswith(_TOKEN_PREFIX) and _CANONICAL_ID.fullmatch(digits):
            value = int(digits)
            if value <= MAX_ID and encode_page_token(value) == token:
                return value
    raise InvalidArgument("is not a token returned by this API", field="page_token")
