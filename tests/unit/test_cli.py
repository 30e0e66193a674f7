"""`triage core`: exit codes, one-line errors, output selection (the extension is faked)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from coretest.models import model_of

import triage
from triage.analysis import NO_PYTHON_HELP
from triage.cli import core as core_cli
from triage.cli import main
from triage.errors import InputError
from triage.render.style import color_enabled


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def core_file(tmp_path: Path) -> Path:
    path = tmp_path / "core.100"
    path.write_bytes(b"\x7fELF")
    return path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, core_dict: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Replace the extension call by one returning ``core_dict``; records the arguments."""
    recorded: list[tuple[Any, ...]] = []

    def fake(*args: Any) -> Any:
        recorded.append(args)
        return model_of(core_dict)

    monkeypatch.setattr(core_cli, "analyze_core", fake)
    return recorded


def _fail_with(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def fake(*args: Any) -> Any:
        raise error

    monkeypatch.setattr(core_cli, "analyze_core", fake)


def test_success(core_file: Path, calls: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["core", str(core_file)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Using executable found in the core file: /usr/bin/python3.12\n\n")
    assert "Traceback for thread 100 [Has the GIL,Garbage collecting]" in out
    assert err == ""
    assert calls == [(str(core_file), None, None, None, False, None)]


def test_search_path_and_executable(
    core_file: Path, calls: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["core", str(core_file), str(core_file), "--lib-search-path", "/a::/b:"]
    assert main(argv) == 0
    assert calls == [(str(core_file), str(core_file), ["/a", "/b"], None, False, None)]
    assert main(["core", str(core_file), "--lib-search-root", str(core_file.parent)]) == 0
    assert calls[1] == (str(core_file), None, None, str(core_file.parent), False, None)
    assert main(["core", str(core_file), "--locals"]) == 0
    assert calls[2] == (str(core_file), None, None, None, True, None)


def test_json(core_file: Path, calls: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["core", str(core_file), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == 1 and doc["threads"][1]["crashed"] is True


def test_missing_core_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["core", str(tmp_path / "nope")]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"triage: error: Core {tmp_path / 'nope'} does not exist\n"


def test_directory_and_fifo_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["core", str(tmp_path)]) == 3
    assert capsys.readouterr().err.endswith("is a directory\n")
    os.mkfifo(tmp_path / "fifo")
    assert main(["core", str(tmp_path / "fifo")]) == 3
    assert capsys.readouterr().err.endswith("is not a regular file\n")


def test_unreadable_core_exits_3(
    core_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def denied(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)  # root would read a chmod 0 file anyway
    assert main(["core", str(core_file)]) == 3
    assert capsys.readouterr().err == (
        f"triage: error: Core {core_file} is not readable: permission denied\n"
    )


def test_missing_executable_exits_3(
    core_file: Path, calls: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["core", str(core_file), "/no/python"]) == 3
    assert capsys.readouterr().err == "triage: error: Executable /no/python does not exist\n"
    assert calls == []


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["core"],
        ["bogus"],
        ["core", "x", "--frobnicate"],
        ["core", "x", "--native", "--native-all"],
        ["core", "x", "--lib-search-path", "/a", "--lib-search-root", "/"],
        ["core", "x", "--lib-search-root", "/does/not/exist"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: triage") and "error:" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["core", "--help"]) == 0
    assert "--lib-search-root" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"triage {triage.__version__}\n"


def test_not_python_prints_header_then_fails(
    core_file: Path, calls: list[Any], core_dict: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    msg = "Could not determine python version from /usr/bin/sleep"
    core_dict.update(python_version=None, python_error=msg, threads=[])
    assert main(["core", str(core_file)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[2] == "Core file information:"
    assert out.endswith("The process died due a segmentation fault accessing address: 0x10\n")
    assert err == f"triage: error: {msg}\n"
    assert main(["-v", "core", str(core_file)]) == 1
    assert capsys.readouterr().err == f"triage: error: {msg}\n{NO_PYTHON_HELP}\n"


def test_not_python_json(
    core_file: Path, calls: list[Any], core_dict: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    core_dict.update(python_version=None, python_error=None, threads=[])
    core_dict["missing_libraries"] = ["/opt/lib/libpython3.12.so"]
    assert main(["core", str(core_file), "--json", "-v"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["error"] == "no Python interpreter found in /spool/core.100"
    assert err.startswith("triage: error: no Python interpreter found in /spool/core.100\n")
    assert err.endswith("missing here:\n  /opt/lib/libpython3.12.so\n")


def test_triage_error_from_the_analysis(
    core_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fail_with(monkeypatch, InputError("x: not an ELF core\nat offset 0", help="read the docs"))
    assert main(["core", str(core_file)]) == 3
    assert capsys.readouterr().err == "triage: error: x: not an ELF core at offset 0\n"


def test_unexpected_exception_is_one_line(
    core_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fail_with(monkeypatch, RuntimeError("boom\x1b"))
    assert main(["core", str(core_file)]) == 1
    assert capsys.readouterr().err == "triage: error: unexpected RuntimeError: boom\\x1b\n"
    assert main(["core", str(core_file), "-v"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.endswith("triage: error: unexpected RuntimeError: boom\\x1b\n")


@pytest.mark.parametrize(("error", "code"), [(KeyboardInterrupt(), 130), (BrokenPipeError(), 141)])
def test_interrupt_and_broken_pipe(
    core_file: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, code: int
) -> None:
    _fail_with(monkeypatch, error)
    # A StringIO has no file descriptor for the broken-pipe path to redirect.
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["core", str(core_file)]) == code


@pytest.mark.parametrize(
    ("flag", "mode"), [("--native", "native"), ("--native-all", "all"), ("--native-last", "last")]
)
def test_native_flags_select_the_mode(
    flag: str, mode: str, core_file: Path, calls: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["core", str(core_file), flag, "--exhaustive"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback for thread 100" in out
    assert err == ""
    assert calls[-1][-1] == mode


@pytest.mark.parametrize(
    ("argv", "env", "colored"),
    [
        (["core", "{core}"], None, True),
        (["core", "{core}", "--no-color"], None, False),
        (["--no-color", "core", "{core}"], None, False),
        (["core", "{core}"], "1", False),
        (["core", "{core}"], "", True),  # empty: not set (no-color.org)
    ],
)
def test_colors_on_a_terminal_only(
    argv: list[str],
    env: str | None,
    colored: bool,
    core_file: Path,
    calls: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env is not None:
        monkeypatch.setenv("NO_COLOR", env)
    tty = _TTY()
    monkeypatch.setattr(sys, "stdout", tty)
    assert main([arg.format(core=core_file) for arg in argv]) == 0
    assert ("\033[32m(Python)\033[0m" in tty.getvalue()) is colored


def test_color_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    assert color_enabled(_TTY()) is True
    assert color_enabled(io.StringIO()) is False
    assert color_enabled(_TTY(), no_color=True) is False
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: only a non-empty value disables
    assert color_enabled(_TTY()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert color_enabled(_TTY()) is False


def test_python_dash_m(tmp_path: Path) -> None:
    root = Path(triage.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    result = subprocess.run(
        [sys.executable, "-m", "triage", "core", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 3
    assert result.stderr == f"triage: error: Core {tmp_path / 'nope'} does not exist\n"


# What `triage core` and `triage remote` import: what printing a stack needs, nothing of the
# pipeline (database, templates, file watching), nor shutil (argparse's help width), nor the
# modules that were over a quarter of their start-up (dataclasses with inspect, ast, dis; typing).
LIGHT_START = """\
import json, sys
from triage.cli import main
code = main(sys.argv[1:])
heavy = ("sqlalchemy", "jinja2", "watchdog", "shutil", "triage.store", "triage.report",
         "dataclasses", "inspect", "typing", "tokenize", "signal")
print(json.dumps([code, sorted(m for m in sys.modules if m.split(".")[0] in heavy
                                or m.startswith(heavy))]))
"""


@pytest.mark.parametrize("command", ["core", "remote"])
def test_analysis_commands_start_light(core_file: Path, tmp_path: Path, command: str) -> None:
    argv = [command, str(core_file)] if command == "core" else [command, "999999999"]
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_START, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    code, imported = json.loads(result.stdout)
    assert code != 0  # not a core / no such process: the command module ran all the same
    assert imported == []


def test_main_leaves_the_collector_as_it_found_it(core_file: Path) -> None:
    import gc

    assert gc.isenabled()
    main(["core", str(core_file)])
    assert gc.isenabled()
    gc.disable()
    try:
        main(["core", str(core_file)])
        assert not gc.isenabled()
    finally:
        gc.enable()
