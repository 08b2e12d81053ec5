"""Media stored in a local folder, for the embedded (no S3) mode and for tests.

Uploads are staged in `root/.incoming/` (same filesystem, so the final
`os.replace` is an atomic rename) and only renamed under their key on commit.
All file I/O runs in threads so a slow disk never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar

from pyrogrpc.storage.base import (
    MediaStorage,
    ObjectNotFound,
    ObjectWriter,
    PresignNotSupported,
    StorageUnavailable,
)

T = TypeVar("T")

INCOMING = ".incoming"


def _os_call(fn: Callable[[], T], missing_key: str | None = None) -> T:
    """Run fn; disk full, permissions and the like mean storage is unusable.

    With `missing_key`, a missing file is that object not being there instead.
    """
    try:
        return fn()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        if missing_key is None:
            raise StorageUnavailable(f"local storage: {exc}") from exc
        raise ObjectNotFound(missing_key) from exc
    except OSError as exc:
        raise StorageUnavailable(f"local storage: {exc}") from exc


class _LocalWriter(ObjectWriter):
    def __init__(self, key: str, final: Path, tmp: Path, fobj: BinaryIO) -> None:
        super().__init__(key)
        self._final = final
        self._tmp = tmp
        self._f = fobj

    async def _write(self, data: bytes) -> None:
        await self._track(asyncio.to_thread(_os_call, lambda: self._f.write(data)))

    def _commit_sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self._final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, self._final)
        # fsync the directory so the rename itself survives a power cut.
        with contextlib.suppress(OSError):
            dir_fd = os.open(self._final.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    async def _commit(self) -> None:
        await self._track(asyncio.to_thread(_os_call, self._commit_sync))

    def _abort_sync(self, commit_attempted: bool) -> None:
        with contextlib.suppress(OSError):
            self._f.close()
        if self._tmp.exists():
            self._tmp.unlink(missing_ok=True)
        elif commit_attempted:
            # The temp file is gone, so the rename of an interrupted commit happened.
            self._final.unlink(missing_ok=True)

    async def _abort(self, commit_attempted: bool) -> None:
        await asyncio.to_thread(self._abort_sync, commit_attempted)


class LocalStorage(MediaStorage):
    def __init__(self, root: Path, media_folder: str = "") -> None:
        super().__init__(media_folder)
        self.root = Path(root).resolve()
        self._incoming = self.root / INCOMING

    def _path(self, key: str) -> Path:
        """The file for a key; ValueError for keys that would land outside root."""
        parts = Path(key).parts
        if not parts or Path(key).is_absolute() or ".." in parts or "\\" in key:
            raise ValueError(f"invalid storage key {key!r}")
        if parts[0] == INCOMING:
            raise ValueError(f"storage key {key!r} uses the reserved {INCOMING} folder")
        path = (self.root / key).resolve()
        # resolve() follows symlinks: a link inside root must not lead outside it.
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"storage key {key!r} escapes the storage root")
        return path

    def _open_tmp(self) -> tuple[Path, BinaryIO]:
        self._incoming.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._incoming, 0o700)  # mkdir's mode is filtered by the umask
        fd, name = tempfile.mkstemp(dir=self._incoming, suffix=".part")
        return Path(name), os.fdopen(fd, "wb")

    async def open_writer(self, key: str, content_type: str) -> ObjectWriter:
        final = self._path(key)
        tmp, fobj = await asyncio.to_thread(_os_call, self._open_tmp)
        return _LocalWriter(key, final, tmp, fobj)

    async def read(self, key: str, chunk_size: int = 64 * 1024) -> AsyncGenerator[bytes, None]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        path = self._path(key)
        fobj = await asyncio.to_thread(_os_call, lambda: path.open("rb"), key)
        try:
            while chunk := await asyncio.to_thread(_os_call, lambda: fobj.read(chunk_size)):
                yield chunk
        finally:
            fobj.close()

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(_os_call, lambda: path.unlink(missing_ok=True))

    async def exists(self, key: str) -> bool:
        path = self._path(key)
        return await asyncio.to_thread(path.is_file)

    async def presigned_url(self, key: str, expires_in: timedelta) -> str:
        raise PresignNotSupported("local media storage has no URLs")

    def _ping_sync(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.root} is not writable")

    async def ping(self) -> None:
        await asyncio.to_thread(_os_call, self._ping_sync)

    def _sweep_sync(self, older_than: timedelta) -> int:
        # mtime, not ctime: a staged file is written to as its upload progresses, so only
        # a file nobody has written to for `older_than` is taken for debris.
        cutoff = time.time() - older_than.total_seconds()
        swept = 0
        if not self._incoming.is_dir():
            return 0
        for path in self._incoming.iterdir():
            with contextlib.suppress(FileNotFoundError):  # its upload ended meanwhile
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    swept += 1
        return swept

    async def sweep_staged(self, older_than: timedelta) -> int:
        return await asyncio.to_thread(_os_call, lambda: self._sweep_sync(older_than))

    async def close(self) -> None:
        return None
