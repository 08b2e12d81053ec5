"""Every List RPC answers with total_size (AIP-158), so a dashboard can show "page 3 of 12"."""

from __future__ import annotations

from pyronear.v1 import access_service_pb2, detection_service_pb2, setup_service_pb2


def test_every_list_response_has_total_size():
    missing = []
    for module in (access_service_pb2, setup_service_pb2, detection_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.name.startswith("List"):
                    fields = method.output_type.fields_by_name
                    if "total_size" not in fields or fields["total_size"].type != fields["total_size"].TYPE_INT32:
                        missing.append(f"{service.name}.{method.name}")
    assert missing == []
