"""Bearer token of a client: log in lazily, and again shortly before the token expires.

A user's token lasts an hour and a camera runs for months, so the client keeps the
credentials and logs in again by itself: before a call when the token expires within
`refresh_margin`, and once after a call fails with UNAUTHENTICATED (token revoked, server
key rotated, clocks apart). A wrong password then fails the retried call: no loop.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc

from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import access_service_pb2_grpc

from .errors import typed_error


class MissingCredentials(ValueError):
    """The call needs a token and the client has neither one nor a login and password."""


class TokenKeeper:
    def __init__(
        self,
        channel,
        login: str | None = None,
        password: str | None = None,
        *,
        token: str | None = None,
        refresh_margin: timedelta = timedelta(seconds=60),
        timeout: float | None = None,
    ):
        self._stub = access_service_pb2_grpc.AccessServiceStub(channel)
        self.login_name, self._password = login, password
        self.token = token
        # A token given as is (no credentials) is used until the server refuses it.
        self.expire_time: datetime | None = None
        self.scope: int | None = None
        self._margin = self._lead = refresh_margin
        self._timeout = timeout
        self._lock = asyncio.Lock()

    @property
    def can_login(self) -> bool:
        return bool(self.login_name and self._password)

    def set_credentials(self, login: str, password: str) -> None:
        self.login_name, self._password = login, password
        self.token = self.expire_time = None

    def _fresh(self) -> bool:
        if not self.token:
            return False
        if self.expire_time is None:
            return True
        return datetime.now(UTC) < self.expire_time - self._lead

    async def login(self) -> access_pb.LoginResponse:
        """Log in with the stored credentials, replacing the token."""
        if not self.can_login:
            raise MissingCredentials("a login and a password are needed")
        request = access_pb.LoginRequest(login=self.login_name, password=self._password)
        try:
            response = await self._stub.Login(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise typed_error(error) from None
        self.token = response.access_token
        self.expire_time = response.expire_time.ToDatetime(tzinfo=UTC)
        self.scope = response.scope
        # Short-lived tokens (a server set to 1-minute tokens) refresh at 80% of their life.
        self._lead = min(self._margin, (self.expire_time - datetime.now(UTC)) / 5)
        return response

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata with a token valid for at least `refresh_margin`."""
        if not self._fresh():
            async with self._lock:  # concurrent calls share one login
                if not self._fresh():
                    if not self.can_login:
                        raise MissingCredentials("no access token: give a login and a password, or a token")
                    await self.login()
        return (("authorization", f"Bearer {self.token}"),)

    async def refresh_after_refusal(self, refused_token: str | None) -> bool:
        """After UNAUTHENTICATED: log in again (once per refused token). False if impossible."""
        if not self.can_login:
            return False
        async with self._lock:
            if self.token == refused_token:  # another call may have refreshed it already
                await self.login()
        return True
