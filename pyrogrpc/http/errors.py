"""Exceptions of a servicer (or of the auth check) as Connect errors: the same code, message
and google.rpc details (ErrorInfo, BadRequest) as the gRPC port's `grpc-status-details-bin`,
because both come from `api.errors.status_for`."""

from __future__ import annotations

import logging

import grpc
from connectrpc.code import Code
from connectrpc.errors import ConnectError, ErrorDetail
from protobuf.wkt import Any as ConnectAny

from ..api.errors import status_for

logger = logging.getLogger("pyrogrpc.http")

# grpc spells one code differently (CANCELLED); every other name is the same in both.
_CODE_BY_STATUS: dict[grpc.StatusCode, Code] = {
    status: Code.CANCELED if status is grpc.StatusCode.CANCELLED else Code[status.name]
    for status in grpc.StatusCode
    if status is not grpc.StatusCode.OK
}


def connect_error(error: Exception) -> ConnectError:
    code, message, status = status_for(error)
    if code is grpc.StatusCode.INTERNAL:
        logger.exception("unexpected error", exc_info=error)
    # connectrpc's details are protobuf-py messages; an Any carries our google.protobuf ones as bytes.
    details = [ErrorDetail(ConnectAny(type_url=detail.type_url, value=detail.value)) for detail in status.details]
    return ConnectError(_CODE_BY_STATUS[code], message, details)
