"""PasswordHasher's thread pool: checks run in parallel (bcrypt releases the GIL), one thread
per core by default, at the priority asked for."""

from __future__ import annotations

import asyncio
import os
import threading

import bcrypt
import pytest

from pyrogrpc.domain.security import PasswordHasher


def _hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


async def test_checks_run_in_parallel_threads_at_the_given_priority(monkeypatch):
    hasher = PasswordHasher(rounds=4, threads=2, nice=5)
    # Both checks must be inside bcrypt at the same time to pass the barrier: with one
    # thread the first would wait for the second forever (BrokenBarrierError after 30 s).
    barrier = threading.Barrier(2, timeout=30)
    seen: list[tuple[int, int]] = []
    real_checkpw = bcrypt.checkpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        barrier.wait()
        seen.append((threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    try:
        stored = _hashed("first-password")
        results = await asyncio.gather(hasher.verify("first-password", stored), hasher.verify("wrong-password", stored))
    finally:
        hasher.close()
    assert results == [True, False]
    assert len({thread for thread, _ in seen}) == 2
    assert all(priority == 5 for _, priority in seen)  # the nice value itself, not an increment


@pytest.mark.parametrize("threads, expected", [(0, os.cpu_count()), (3, 3)])
def test_pool_size_defaults_to_the_cores(threads, expected):
    hasher = PasswordHasher(rounds=4, threads=threads)
    try:
        assert hasher._executor._max_workers == expected
    finally:
        hasher.close()
