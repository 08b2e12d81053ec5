"""PYROGRPC_TEST_DATABASES=sqlite skips the tests pinned to PostgreSQL instead of erroring
(issue 13, item 15): a machine without PostgreSQL runs the rest of the suite green."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_postgresql_only_tests_skip_when_only_sqlite_is_selected():
    env = {
        **os.environ,
        "PYROGRPC_TEST_DATABASES": "sqlite",
        # Nothing listens here: a test that tried to reach PostgreSQL would error.
        "PYROGRPC_TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/postgres",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "-k",
            "postgresql",
            "tests/test_faults.py",
            "tests/test_load.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-3000:]
    assert "error" not in summary and "failed" not in summary, summary
    assert "skipped" in summary and "passed" not in summary, summary
    assert "postgresql is not in PYROGRPC_TEST_DATABASES=sqlite" in result.stdout
