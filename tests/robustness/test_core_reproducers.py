"""Cores that crashed, hung or broke the analyzer once, kept as regression tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from corepatch import execfn_location, file_note_paths, padded, rewrite
from coretest import elf
from coretest.cores import CoreCase, find_kernel_core, kernel_cores_usable
from coretest.processes import child_setup, scenario_env
from mutate import PHDR_SIZE, Mutation, boundary_cuts
from robustkit import problems, run_many

NATIVE_MODES = (("--native",), ("--native-all",), ("--native-all", "--locals", "--json"))
ALL_MODES = ((), ("--locals",), *NATIVE_MODES)


def check_runs(cores: list[Path], modes: tuple[tuple[str, ...], ...], cwd: Path) -> list[dict]:
    commands = [["core", str(core), "--no-color", *flags] for core in cores for flags in modes]
    results = run_many(commands, cwd)
    failures = [f"{r['argv']}: {'; '.join(found)}" for r in results if (found := problems(r))]
    assert not failures, "\n".join(failures)
    return results


def test_cut_inside_every_note_in_native_modes(current_core: CoreCase, tmp_path: Path) -> None:
    """libdwfl cannot attach to a core cut inside its notes, and then has no error message."""
    cuts = [m for m in boundary_cuts(current_core.core) if "note" in m.where.lower()]
    cores = [m.write(current_core.core, tmp_path / f"cut-{i}") for i, m in enumerate(cuts)]
    check_runs(cores, NATIVE_MODES, tmp_path)


def test_high_byte_of_note_size_flipped(current_core: CoreCase, tmp_path: Path) -> None:
    layout = elf.read_elf(current_core.core)
    index = next(i for i, s in enumerate(layout.segments) if s.type == elf.PT_NOTE)
    offset = layout.phoff + index * PHDR_SIZE + 32 + 7  # the high byte of p_filesz
    cores = [
        Mutation("patch", "PT_NOTE p_filesz", offset, bytes([value])).write(
            current_core.core, tmp_path / f"flip-{value}"
        )
        for value in (0x01, 0x80, 0xFF)
    ]
    check_runs(cores, ALL_MODES, tmp_path)


@pytest.fixture
def fifo() -> Iterator[Path]:
    """A FIFO nobody writes to, under a short path (it replaces paths inside a core)."""
    directory = Path(tempfile.mkdtemp(prefix="f", dir="/tmp"))
    path = directory / "p"
    os.mkfifo(path)
    yield path
    shutil.rmtree(directory)


def test_execfn_names_a_fifo(current_core: CoreCase, fifo: Path, tmp_path: Path) -> None:
    offset, length = execfn_location(current_core.core)
    core = rewrite(current_core.core, tmp_path / "core", [(offset, padded(bytes(fifo), length))])
    results = check_runs([core], ALL_MODES, tmp_path)
    assert all(r["exit"] == 0 for r in results), results


def test_mapped_files_name_a_fifo_and_a_device(
    current_core: CoreCase, fifo: Path, tmp_path: Path
) -> None:
    """Every mapped file, the executable and libpython included, replaced by one of the two."""
    targets = (bytes(fifo), b"/dev/zero")
    patches = [
        (offset, padded(targets[i % 2], len(path)))
        for i, (offset, path) in enumerate(file_note_paths(current_core.core))
        if len(path) >= len(b"/dev/zero")
    ]
    core = rewrite(current_core.core, tmp_path / "core", patches)
    check_runs([core], ALL_MODES, tmp_path)


def test_library_paths_not_in_utf8_from_the_core(current_core: CoreCase, tmp_path: Path) -> None:
    """A byte of every mapped path but the interpreter's made Latin-1: those libraries are
    then missing here, and their names reach the output (missing libraries, native frames)
    as valid UTF-8."""
    patches = [
        (offset + 1, b"\xe9")
        for offset, path in file_note_paths(current_core.core)
        if b"python" not in path
    ]
    core = rewrite(current_core.core, tmp_path / "core", patches)
    results = check_runs([core], ALL_MODES, tmp_path)
    assert all(r["exit"] == 0 for r in results), results
    document = json.loads(str(results[-1]["stdout"]))
    assert "\ufffd" in json.dumps(document["threads"], ensure_ascii=False)


def crash_copy_of(interpreter: str, directory: Path) -> Path:
    """A kernel core of a copy of INTERPRETER that ran from DIRECTORY (it aborts at once)."""
    directory.mkdir(parents=True)
    copy = directory / "python3"
    shutil.copy2(interpreter, copy)
    code = "import os\ndef crash_here():\n    os.abort()\ncrash_here()\n"
    process = subprocess.run(
        [os.fsencode(copy), "-E", "-S", "-c", code],
        cwd=directory,
        env=scenario_env(),
        capture_output=True,
        preexec_fn=child_setup,
        timeout=60,
    )
    core = find_kernel_core(directory, 0)
    if process.returncode >= 0 or core is None:
        pytest.skip(f"no kernel core from {copy}: {process.stderr[-500:]!r}")
    return core


def test_interpreter_under_a_latin1_directory(tmp_path: Path) -> None:
    """Debian's python3 (libpython linked in) copied to a directory named in Latin-1."""
    if not kernel_cores_usable() or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs kernel cores and /usr/bin/python3")
    latin1 = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    # The core itself is read from a UTF-8 path: only the paths inside it are Latin-1.
    core = shutil.copyfile(
        crash_copy_of(os.path.realpath("/usr/bin/python3"), latin1), tmp_path / "core"
    )
    results = check_runs([core], ALL_MODES, tmp_path)
    native = [r for r in results if "--native-all" in r["argv"] and "--json" not in r["argv"]]
    assert all(r["exit"] == 0 for r in results), results
    assert all("caf\ufffd" in str(r["stdout"]) for r in native), native
    assert all("crash_here" in str(r["stdout"]) for r in results), results


def test_debug_link_names_a_fifo(tmp_path: Path) -> None:
    """A program whose .gnu_debuglink file, next to it, is a FIFO: libdwfl's debug-file
    lookup must not open it (symbolizing the program's frames asks for its DWARF)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or shutil.which("objcopy") is None or not kernel_cores_usable():
        pytest.skip("needs a C compiler, objcopy and kernel cores")
    (tmp_path / "tiny.c").write_text("int main(void) { volatile int *p = 0; return *p; }\n")
    subprocess.run([compiler, "-O0", "-o", "tiny", "tiny.c"], cwd=tmp_path, check=True)
    (tmp_path / "tiny.debug").write_bytes(b"")
    subprocess.run(["objcopy", "--add-gnu-debuglink=tiny.debug", "tiny"], cwd=tmp_path, check=True)
    (tmp_path / "tiny.debug").unlink()
    os.mkfifo(tmp_path / "tiny.debug")
    subprocess.run(["./tiny"], cwd=tmp_path, preexec_fn=child_setup, capture_output=True)
    core = find_kernel_core(tmp_path, 0)
    if core is None:
        pytest.skip("the kernel wrote no core")
    check_runs([core], NATIVE_MODES, tmp_path)
