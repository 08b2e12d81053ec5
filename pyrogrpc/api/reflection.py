"""Server reflection, `grpc.reflection.v1` and `v1alpha`, serving the protos' comments.

grpcio-reflection serves `v1alpha` only, from the runtime descriptor pool, whose
descriptors carry no comments (`CopyToProto` drops source info). So:

- Our files are served from `pyronear/v1/descriptor_set.binpb`, a descriptor set built with
  `protoc --include_source_info` by `make generate`: `grpcurl describe` shows each RPC's
  comment (who may call it, what its errors mean). Other files (health, reflection) come
  from the runtime pool, as grpcio-reflection does.
- Symbols are looked up in an index of every name in those files, methods included
  (grpcio-reflection's pool lookup does not find `Service.Method`, so `grpcurl describe
  pyronear.v1.AccessService.Login` failed).
- `v1` has exactly the messages of `v1alpha` under another package: the same field numbers,
  so the same bytes. One servicer (grpcio-reflection's asyncio servicer with our file
  lookups) answers both; `v1` is registered with the `v1alpha` (de)serializers. Its file
  descriptor, for clients that describe the reflection service itself, is `v1alpha`'s with
  the package renamed (`v1_reflection_file`), not a vendored copy of the proto.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import resources

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection_pb2 as reflection_messages
from grpc_reflection.v1alpha._async import ReflectionServicer as _AsyncReflectionServicer
from grpc_reflection.v1alpha._base import _not_found_error

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE_NAME = "grpc.reflection.v1alpha.ServerReflection"
DESCRIPTOR_SET = "descriptor_set.binpb"


def load_descriptor_set(package: str = "pyronear.v1") -> descriptor_pb2.FileDescriptorSet:
    data = resources.files(package).joinpath(DESCRIPTOR_SET).read_bytes()
    return descriptor_pb2.FileDescriptorSet.FromString(data)


def v1_reflection_file() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto: the v1alpha file with the package renamed."""
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_messages.DESCRIPTOR.CopyToProto(proto)
    proto.name = "grpc/reflection/v1/reflection.proto"
    proto.package = "grpc.reflection.v1"
    proto.options.Clear()  # v1alpha's options say deprecated and name v1alpha packages
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old) :]
            method.output_type = new + method.output_type[len(old) :]
    return proto


def _symbols(file: descriptor_pb2.FileDescriptorProto) -> Iterator[str]:
    """Every fully-qualified name a client may ask for: messages (nested), fields, enums,
    enum values, services, methods, extensions."""
    prefix = f"{file.package}." if file.package else ""

    def messages(items: Iterable[descriptor_pb2.DescriptorProto], scope: str) -> Iterator[str]:
        for message in items:
            name = scope + message.name
            yield name
            yield from (f"{name}.{field.name}" for field in message.field)
            yield from (f"{name}.{field.name}" for field in message.extension)
            yield from (f"{name}.{oneof.name}" for oneof in message.oneof_decl)
            yield from enums(message.enum_type, f"{name}.")
            yield from messages(message.nested_type, f"{name}.")

    def enums(items: Iterable[descriptor_pb2.EnumDescriptorProto], scope: str) -> Iterator[str]:
        for enum in items:
            yield scope + enum.name
            # Enum values are siblings of their enum in protobuf's scoping.
            yield from (scope + value.name for value in enum.value)

    yield from messages(file.message_type, prefix)
    yield from enums(file.enum_type, prefix)
    yield from (prefix + extension.name for extension in file.extension)
    for service in file.service:
        yield prefix + service.name
        yield from (f"{prefix}{service.name}.{method.name}" for method in service.method)


class DescriptorFiles:
    """Serialized FileDescriptorProtos by file name and by symbol; the runtime pool for the rest."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto], pool: descriptor_pool.DescriptorPool):
        self._pool = pool
        self._serialized: dict[str, bytes] = {}
        self._dependencies: dict[str, list[str]] = {}
        self._file_of_symbol: dict[str, str] = {}
        for file in files:
            self._serialized[file.name] = file.SerializeToString()
            self._dependencies[file.name] = list(file.dependency)
            for symbol in _symbols(file):
                self._file_of_symbol.setdefault(symbol, file.name)

    def with_dependencies(self, name: str) -> list[bytes] | None:
        """The file and everything it imports, transitively; None when unknown."""
        if name not in self._serialized and self._pool_file(name) is None:
            return None
        found: dict[str, bytes] = {}
        pending = [name]
        while pending:
            current = pending.pop()
            if current in found:
                continue
            if current in self._serialized:
                found[current] = self._serialized[current]
                pending.extend(self._dependencies[current])
                continue
            file = self._pool_file(current)
            if file is None:
                continue  # a dependency we cannot serve; the client reports what it misses
            proto = descriptor_pb2.FileDescriptorProto()
            file.CopyToProto(proto)
            found[current] = proto.SerializeToString()
            pending.extend(dependency.name for dependency in file.dependencies)
        return list(found.values())

    def file_of_symbol(self, symbol: str) -> str | None:
        if symbol in self._file_of_symbol:
            return self._file_of_symbol[symbol]
        # The runtime pool (health, v1alpha reflection): it knows services but not their
        # methods, so "Service.Method" is looked up as "Service".
        for candidate in (symbol, symbol.rpartition(".")[0]):
            if not candidate:
                continue
            try:
                return self._pool.FindFileContainingSymbol(candidate).name
            except KeyError:
                continue
        return None

    def _pool_file(self, name: str) -> FileDescriptor | None:
        try:
            return self._pool.FindFileByName(name)
        except KeyError:
            return None


class CommentedReflectionServicer(_AsyncReflectionServicer):
    """grpcio-reflection's asyncio servicer answering file requests from `DescriptorFiles`."""

    def __init__(self, service_names: Iterable[str], files: DescriptorFiles, pool: descriptor_pool.DescriptorPool):
        super().__init__(service_names, pool=pool)
        self._files = files

    def _file_by_filename(self, request, filename):
        return self._answer(request, self._files.with_dependencies(filename))

    def _file_containing_symbol(self, request, fully_qualified_name):
        name = self._files.file_of_symbol(fully_qualified_name)
        return self._answer(request, None if name is None else self._files.with_dependencies(name))

    @staticmethod
    def _answer(request, files: list[bytes] | None):
        if files is None:
            return _not_found_error(request)
        return reflection_messages.ServerReflectionResponse(
            file_descriptor_response=reflection_messages.FileDescriptorResponse(file_descriptor_proto=files),
            original_request=request,
        )


def reflection_handlers(service_names: Iterable[str]) -> list[grpc.GenericRpcHandler]:
    """Generic handlers of both reflection services, listing `service_names` and themselves."""
    pool = descriptor_pool.Default()
    files = DescriptorFiles([*load_descriptor_set().file, v1_reflection_file()], pool)
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    servicer = CommentedReflectionServicer(names, files, pool)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_messages.ServerReflectionRequest.FromString,
        response_serializer=reflection_messages.ServerReflectionResponse.SerializeToString,
    )
    return [
        grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler})
        for service in (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    ]
