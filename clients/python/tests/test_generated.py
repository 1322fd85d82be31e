"""The committed generated code (pg_sync_client/v1/*_pb2*) matches what generate.sh makes from /proto."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
GENERATED = PACKAGE_ROOT / "pg_sync_client" / "v1"


def _generated_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*_pb2*.py*"))}


def test_generated_code_is_current(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(PACKAGE_ROOT / "generate.sh"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    fresh = _generated_files(tmp_path / "pg_sync_client" / "v1")
    committed = _generated_files(GENERATED)
    assert fresh, "generate.sh produced nothing"
    assert sorted(committed) == sorted(fresh), "generated file set differs: run clients/python/generate.sh"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"out of date: {stale}; run clients/python/generate.sh and commit the result"
