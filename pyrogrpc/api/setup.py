"""SetupService servicer: devices, sites, installations, webhooks, recipients (issue 4)."""

from __future__ import annotations

from pyronear.v1 import setup_service_pb2_grpc


class SetupServicer(setup_service_pb2_grpc.SetupServiceServicer):
    def __init__(self, **services):
        self.__dict__.update({f"_{name}": service for name, service in services.items()})
