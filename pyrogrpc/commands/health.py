"""`pyrogrpc health`: gRPC health check, the probe of Docker's HEALTHCHECK and of load balancers."""

from __future__ import annotations

import argparse

from grpc_health.v1 import health_pb2

from .common import EXIT_FAILURE, EXIT_OK, connection_options, run_client


def add_parsers(commands) -> None:
    parser = commands.add_parser(
        "health",
        parents=[connection_options(credentials=False)],
        help="check a server's health: exit 0 when SERVING, 1 otherwise, 3 when unreachable",
        description="Ask grpc.health.v1.Health/Check and print the status. "
        "Exit 0 when SERVING, 1 when NOT_SERVING (e.g. database down) or unknown, 3 when unreachable.",
    )
    parser.add_argument(
        "--service", default="", help="service to check, e.g. pyronear.v1.DetectionService (default: the whole server)"
    )
    parser.set_defaults(handler=_health)


def _health(args: argparse.Namespace) -> int:
    async def body(client) -> int:
        status = await client.health(args.service)
        print(health_pb2.HealthCheckResponse.ServingStatus.Name(status), flush=True)
        return EXIT_OK if status == health_pb2.HealthCheckResponse.SERVING else EXIT_FAILURE

    return run_client(args, body)
