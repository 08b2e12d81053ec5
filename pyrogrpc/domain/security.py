"""Password hashing (bcrypt, off the event loop) and access tokens (JWT HS256)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import bcrypt
import jwt

from .errors import Unauthenticated
from .principal import Principal, Scope

T = TypeVar("T")

# bcrypt only uses the first 72 bytes; longer passwords are refused rather than silently cut.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 8
_ALGORITHM = "HS256"
_VERIFIED_CACHE_SIZE = 10_000


class PasswordHasher:
    """bcrypt costs ~0.25 s of CPU by design: it runs in a thread pool of its own, one thread
    per core by default (bcrypt releases the GIL, so logins use every core), at a lower
    priority (`nice`), so the event loop keeps serving while a burst of logins runs."""

    def __init__(self, rounds: int = 12, threads: int = 0, nice: int = 10):
        self.rounds = rounds
        self._executor = ThreadPoolExecutor(
            max_workers=threads or os.cpu_count() or 1,
            thread_name_prefix="bcrypt",
            initializer=_lower_thread_priority,
            initargs=(nice,),
        )
        # Compared against when the login is unknown, so both failures take the same time.
        self._dummy_hash = bcrypt.hashpw(b"no-such-login", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        if not is_hashable(password):
            # Validation refuses these first; bcrypt would silently cut them (at a NUL or 72 bytes).
            raise ValueError("password contains NUL or exceeds 72 bytes")
        digest = await self._run(bcrypt.hashpw, password.encode(), bcrypt.gensalt(self.rounds))
        return digest.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        if not password or not is_hashable(password):
            # No stored password is empty, holds a NUL or is longer than 72 bytes; bcrypt would
            # compare only what precedes the first NUL (so "" would match "\x00" * 8).
            return False
        target = hashed.encode() if hashed else self._dummy_hash
        try:
            matches = await self._run(bcrypt.checkpw, password.encode(), target)
        except ValueError:
            return False
        return matches and hashed is not None

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def is_hashable(password: str) -> bool:
    """bcrypt reads a C string of at most 72 bytes: anything else would be silently cut."""
    return "\x00" not in password and len(password.encode()) <= MAX_PASSWORD_BYTES


def _lower_thread_priority(nice: int) -> None:
    """Run a bcrypt thread at `nice` (Linux: per thread): when the cores are busy, the event
    loop's thread wins, so a burst of logins delays other logins, not heartbeats."""
    if not nice:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass  # not Linux, or not allowed: plain priority


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expire_time: datetime
    scope: Scope


class TokenService:
    def __init__(self, secret: str, user_lifetime: timedelta, device_lifetime: timedelta):
        if not secret:
            raise ValueError("an empty JWT secret is never acceptable")
        self._secret = secret
        self._user_lifetime = user_lifetime
        self._device_lifetime = device_lifetime
        # token -> (principal, exp): checking an HS256 signature costs ~0.1 ms, a few % of
        # every RPC, and a camera sends the same token for a year. Expiry is still checked
        # on every call; the cache only remembers tokens whose signature was valid.
        self._verified: dict[str, tuple[Principal, int]] = {}

    def issue(self, principal: Principal, now: datetime | None = None) -> IssuedToken:
        now = now or datetime.now(UTC)
        lifetime = self._device_lifetime if principal.scope is Scope.DEVICE else self._user_lifetime
        expire = (now + lifetime).replace(microsecond=0)
        claims = {
            "sub": str(principal.access_id),
            "scope": principal.scope.value,
            "group_id": principal.group_id,
            "iat": int(now.timestamp()),
            "exp": int(expire.timestamp()),
        }
        return IssuedToken(jwt.encode(claims, self._secret, algorithm=_ALGORITHM), expire, principal.scope)

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expire = cached
            if time.time() < expire:
                return principal
            raise Unauthenticated("access token expired")
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()  # crude but bounded; it refills with the tokens in use
        return self._decode(token)

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "scope", "group_id"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("invalid access token") from None
        try:
            principal = Principal(
                access_id=int(claims["sub"]), scope=Scope(claims["scope"]), group_id=int(claims["group_id"])
            )
            expire = int(claims["exp"])
        except (TypeError, ValueError):
            raise Unauthenticated("invalid access token") from None
        self._verified[token] = (principal, expire)
        return principal
