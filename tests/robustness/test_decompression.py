"""Compressed cores: every output size accepted, decompression bombs stopped with one line."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from coretest.cores import CoreCase
from robustkit import run_many

MIB = 1 << 20
COMPRESSORS = {
    "gzip": ["gzip", "-1", "-c"],
    "zstd": ["zstd", "-q", "-1", "-c"],
    "lz4": ["lz4", "-q", "-c"],
    "xz": ["xz", "-0", "-c"],
}
NOT_USABLE = 3


def compress(tool: str, data: bytes) -> bytes:
    command = COMPRESSORS[tool]
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout


def triage(*args: str, memory_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run(
        [sys.executable, "-m", "triage", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        preexec_fn=limit,
    )


def threads_of(result: subprocess.CompletedProcess[str]) -> list[object]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["threads"]


@pytest.mark.parametrize("tool", ["zstd", "lz4"])
def test_core_of_a_whole_number_of_mib(tool: str, current_core: CoreCase, tmp_path: Path) -> None:
    """Padded to a MiB boundary, the core decompresses and reads like the plain one."""
    data = current_core.core.read_bytes()
    data += bytes(-len(data) % MIB)
    plain = tmp_path / "core"
    plain.write_bytes(data)
    packed = tmp_path / f"core.{tool}"
    packed.write_bytes(compress(tool, data))
    assert threads_of(triage("core", str(packed), "--json")) == threads_of(
        triage("core", str(plain), "--json")
    )


def test_every_output_size_is_a_complete_stream(tmp_path: Path) -> None:
    """Not cores, but complete streams: rejected for what they hold, never as truncated."""
    commands = []
    for tool in sorted(COMPRESSORS):
        for size in (MIB - 1, MIB, MIB + 1, 3 * MIB):
            packed = tmp_path / f"{size}.{tool}"
            packed.write_bytes(compress(tool, b"\x01" * size))
            commands.append(["core", str(packed)])
    for result in run_many(commands, tmp_path):
        err = str(result["stderr"])
        assert result["exit"] == NOT_USABLE, result
        assert "truncated" not in err and "not an ELF core" in err, result


def zstd_bomb(frames: int, prefix: bytes = b"") -> bytes:
    """FRAMES concatenated zstd frames of 64 MiB of zeros each (a few KiB each)."""
    frame = compress("zstd", bytes(64 * MIB))
    return (compress("zstd", prefix) if prefix else b"") + frame * frames


def test_bomb_stopped_by_the_ratio(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zst"
    bomb.write_bytes(zstd_bomb(64))  # 4 GiB from about 130 KiB
    started = time.monotonic()
    result = triage("core", str(bomb))
    assert result.returncode == NOT_USABLE, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "1000 times the compressed size" in result.stderr
    assert time.monotonic() - started < 60


def test_bomb_stopped_by_the_memory_limit(tmp_path: Path) -> None:
    """Incompressible bytes first, so the ratio allows more than the address-space limit."""
    noise = os.urandom(3 * MIB)
    bomb = tmp_path / "bomb.zst"
    bomb.write_bytes(zstd_bomb(48, prefix=noise))  # 3 GiB
    result = triage("core", str(bomb), memory_limit=1536 * MIB)
    assert result.returncode == NOT_USABLE, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "address-space limit" in result.stderr
