"""Delivery errors shared by the notification adapters.

The background queue decides whether to retry from one flag, ``permanent``, so
every adapter must classify HTTP outcomes the same way; that rule lives here.
"""

from __future__ import annotations

from ..domain.ports import DeliveryError

__all__ = ["DeliveryError", "error_for_status"]


def error_for_status(what: str, status_code: int, detail: str = "") -> DeliveryError:
    """Build the error for a non-2xx answer.

    429 and 5xx are the remote side's temporary trouble, so they are retried;
    any other status (4xx, unexpected 1xx/3xx) will not change on a retry.
    """
    permanent = not (status_code == 429 or status_code >= 500)
    message = f"{what} failed: HTTP {status_code}"
    if detail:
        message += f": {detail[:200]}"
    return DeliveryError(message, permanent=permanent, status_code=status_code)
