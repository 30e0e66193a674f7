"""Compressed cores (gzip, zstd, lz4, xz) give the same threads as the plain core and leave
no file behind: not next to the core, not in $TMPDIR, not in /tmp."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from coretest.cores import CoreFactory, GcoreMissing
from coretest.interpreters import Interpreter
from coretest.scenarios import CoreKey, scenario
from coretest.tools import Tools

COMPRESSORS = {
    "gzip": (["gzip", "-1", "-c"], ".gz"),
    "zstd": (["zstd", "-q", "-c"], ".zst"),
    "lz4": (["lz4", "-q", "-c"], ".lz4"),
    "xz": (["xz", "-1", "-c"], ".xz"),
}


@pytest.fixture(scope="session")
def plain_core(core_factory: CoreFactory, current_interpreter: Interpreter) -> Path:
    """A gcore core of the threads scenario of the interpreter running the tests."""
    key = CoreKey(current_interpreter, scenario("threads"), "gcore")
    try:
        return core_factory.get(key).core
    except GcoreMissing as error:
        pytest.skip(str(error))


class Packer:
    """Compresses the plain core once per compressor for the whole session."""

    def __init__(self, core: Path, directory: Path) -> None:
        self._core = core
        self._directory = directory
        self._packed: dict[str, Path] = {}

    def packed(self, compressor: str) -> Path:
        if compressor not in self._packed:
            command, suffix = COMPRESSORS[compressor]
            if shutil.which(command[0]) is None:
                pytest.skip(f"{command[0]} is not installed")
            target = self._directory / f"core{suffix}"
            with open(target, "wb") as out:
                subprocess.run([*command, str(self._core)], stdout=out, check=True, timeout=300)
            self._packed[compressor] = target
        return self._packed[compressor]


@pytest.fixture(scope="session")
def packer(plain_core: Path, tmp_path_factory: pytest.TempPathFactory) -> Packer:
    return Packer(plain_core, tmp_path_factory.mktemp("packed"))


def _listing(directory: Path) -> set[str]:
    return {entry.name for entry in directory.iterdir()}


def _head(path: Path, size: int = 4096) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read(size)
    except OSError:  # gone already, or not ours to read
        return b""


def _copies_left(new_entries: set[str], originals: list[Path]) -> list[str]:
    """The new entries of /tmp holding a copy (whole or partial) of one of ORIGINALS.

    Other processes create entries in /tmp at any time, so only a file at least as big as the
    compressed core that starts with the same bytes as the plain or the compressed core is
    blamed on the analyzer; $TMPDIR, private to the run, is checked strictly.
    """
    heads = {_head(original) for original in originals}
    smallest = min(original.stat().st_size for original in originals)
    return [
        name
        for name in sorted(new_entries)
        if any(_head(path) in heads for path in _files_under(Path("/tmp") / name, smallest))
    ]


def _files_under(entry: Path, min_size: int) -> list[Path]:
    try:
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        return [path for path in files if path.stat().st_size >= min_size]
    except OSError:  # removed while we looked: not a leftover
        return []


def _stable_part(report: dict[str, Any]) -> dict[str, Any]:
    return {"process": report["process"], "threads": report["threads"]}


@pytest.mark.parametrize("naming", ["suffix", "no-suffix"])
@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
def test_compressed_core_gives_the_same_threads(
    compressor: str, naming: str, plain_core: Path, packer: Packer, tmp_path: Path, tools: Tools
) -> None:
    """Both with the usual suffix and without one (the format must be known by its magic)."""
    suffix = COMPRESSORS[compressor][1] if naming == "suffix" else ""
    spool = tmp_path / "spool"
    spool.mkdir()
    packed = spool / f"core{suffix}"
    shutil.copyfile(packer.packed(compressor), packed)
    private_tmp = tmp_path / "tmpdir"
    private_tmp.mkdir()
    before = (_listing(spool), _listing(Path("/tmp")))

    env = dict(os.environ, TMPDIR=str(private_tmp))
    result = tools.triage("core", str(packed), "--json", env=env)

    after = (_listing(spool), _listing(Path("/tmp")))
    assert result.returncode == 0, result.describe()
    expected = tools.triage_json(plain_core)
    assert _stable_part(json.loads(result.stdout)) == _stable_part(expected)
    assert after[0] == before[0], "files left next to the compressed core"
    leftovers = _copies_left(after[1] - before[1], [plain_core, packed])
    assert not leftovers, f"copies of the core left in /tmp: {leftovers}"
    assert not any(private_tmp.iterdir()), "files left in $TMPDIR"
