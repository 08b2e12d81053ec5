"""Authentication interceptor: verifies the bearer token, that its account still exists with
the token's scope and group, and the RPC's allowed scopes.

The verified `Principal` is put in a context variable for the servicer of this call;
`current_principal()` reads it. The scope table lives in `scopes.py`.
"""

from __future__ import annotations

import contextvars

from grpc_interceptor import AsyncServerInterceptor

from ..domain.access_check import AccessCheck
from ..domain.errors import PermissionDenied, Unauthenticated
from ..domain.principal import Principal
from ..domain.security import TokenService
from .scopes import PUBLIC, PUBLIC_SERVICE_PREFIXES, RPC_SCOPES

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("pyrogrpc_principal", default=None)


def current_principal() -> Principal:
    principal = _principal.get()
    if principal is None:  # only reachable if an RPC is wrongly marked PUBLIC in the scope table
        raise Unauthenticated("missing access token")
    return principal


def principal_or_none() -> Principal | None:
    """The verified caller of this call, None for a public RPC or a refused token (access log)."""
    return _principal.get()


def bearer_token(metadata) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
            return token.strip()
    raise Unauthenticated("missing access token: send 'authorization: Bearer <token>' metadata")


class CallAuthorizer:
    """Who is calling `method_name`, checked against the scope table: the one check both the gRPC
    port (AuthInterceptor) and the HTTP port (pyrogrpc/http) run before a servicer method."""

    def __init__(self, tokens: TokenService, accounts: AccessCheck):
        self._tokens = tokens
        self._accounts = accounts

    async def principal_for(self, method_name: str, metadata) -> Principal | None:
        """The verified caller of `method_name` ("/package.Service/Method"), None for a public
        RPC; raises Unauthenticated or PermissionDenied. `metadata`: (lowercase key, value) pairs."""
        if method_name.startswith(PUBLIC_SERVICE_PREFIXES):
            return None
        allowed = RPC_SCOPES.get(method_name)
        if allowed is None:
            raise PermissionDenied(f"{method_name} is not open to any caller")
        if allowed is PUBLIC:
            return None
        principal = self._tokens.verify(bearer_token(metadata))
        await self._accounts.confirm(principal)
        _principal.set(principal)  # before the scope check: the access log names who was refused
        if principal.scope not in allowed:
            raise PermissionDenied(f"scope {principal.scope.value} may not call {method_name.rsplit('/', 1)[-1]}")
        return principal


def set_principal(principal: Principal | None) -> None:
    """Make `principal` the caller `current_principal()` returns in this task (and its children)."""
    _principal.set(principal)


class AuthInterceptor(AsyncServerInterceptor):
    def __init__(self, tokens: TokenService, accounts: AccessCheck):
        self._authorizer = CallAuthorizer(tokens, accounts)

    async def intercept(self, method, request_or_iterator, context, method_name):
        _principal.set(None)
        _principal.set(await self._authorizer.principal_for(method_name, context.invocation_metadata()))
        response = method(request_or_iterator, context)
        if hasattr(response, "__aiter__"):
            return response
        return await response
