"""Media object storage: one interface, a local-folder and an S3 backend."""

from pyrogrpc.domain.media_types import SNIFF_BYTES, SniffedType, sniff_media_type
from pyrogrpc.storage.base import (
    MediaStorage,
    ObjectNotFound,
    ObjectWriter,
    PresignNotSupported,
    StorageError,
    StorageMissing,
    StorageUnavailable,
)
from pyrogrpc.storage.local import LocalStorage
from pyrogrpc.storage.s3 import S3Storage

__all__ = [
    "SNIFF_BYTES",
    "LocalStorage",
    "MediaStorage",
    "ObjectNotFound",
    "ObjectWriter",
    "PresignNotSupported",
    "S3Storage",
    "SniffedType",
    "StorageError",
    "StorageMissing",
    "StorageUnavailable",
    "sniff_media_type",
]
