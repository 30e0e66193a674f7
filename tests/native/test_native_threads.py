"""A thread made by pthread_create in C (the C++ module's ``native_only_sleeper``) that never
touches Python: shown, with its native frames, by ``--native-all``; absent with ``--native``
(every interpreter) and ``--native-last``; the same for a gcore and for the live process
(``triage remote``)."""

from __future__ import annotations

from typing import Any

import pytest
from nativekit.builds import CxxBuilds
from nativekit.interpreters import Interpreter
from nativekit.labs import Sleeper, Sleepers, cxx_module
from nativekit.processes import wait_all_sleeping
from nativekit.stacks import describe, describe_threads, thread_by_tid
from nativekit.tools import Tools, parse_threads

SLEEPER = "native_only_sleeper"
LIBRARY = "cxxcrash.so"
PYTHON_THREADS = 3  # the main thread and two sleepers


def started(sleepers: Sleepers, builds: CxxBuilds, interpreter: Interpreter) -> Sleeper:
    module = cxx_module(builds, interpreter)
    return sleepers.get(interpreter, (str(module),), variant="native-thread")


@pytest.fixture
def any_python(sleepers: Sleepers, cxx_builds: CxxBuilds, interpreter: Interpreter) -> Sleeper:
    """The target on every interpreter."""
    return started(sleepers, cxx_builds, interpreter)


@pytest.fixture
def with_native_thread(
    sleepers: Sleepers, cxx_builds: CxxBuilds, current_interpreter: Interpreter
) -> Sleeper:
    """The target on the interpreter running the tests."""
    return started(sleepers, cxx_builds, current_interpreter)


def native_tid(sleeper: Sleeper) -> int:
    words = sleeper.target.message.split()
    assert len(words) == 2, sleeper.target.message
    return int(words[1])


def analyze(tools: Tools, sleeper: Sleeper, source: str, flag: str) -> dict[str, Any]:
    if source == "core":
        return tools.triage_core_json(sleeper.core, flag)
    wait_all_sleeping(sleeper.target.pid)
    return tools.triage_json("remote", str(sleeper.target.pid), flag)


@pytest.mark.parametrize("source", ["core", "remote"])
def test_native_all_shows_the_c_thread(any_python: Sleeper, tools: Tools, source: str) -> None:
    document = analyze(tools, any_python, source, "--native-all")
    thread = thread_by_tid(document, native_tid(any_python))
    assert thread is not None, describe_threads(document)
    assert thread["python"] is False
    frames = thread["frames"]
    assert frames and all(f["kind"] == "native" for f in frames), describe(frames)
    functions = [f["function"] for f in frames]
    assert "start_thread" in functions, describe(frames)
    ours = [f for f in frames if f["function"] == SLEEPER]
    assert len(ours) == 1 and ours[0]["library"] == LIBRARY, describe(frames)
    assert ours[0]["file"].endswith("cxxcrash.cpp"), ours[0]
    below = functions[functions.index(SLEEPER) + 1 :]
    assert any("sleep" in name for name in below), describe(frames)
    python = [t for t in document["threads"] if t["python"]]
    assert len(python) == PYTHON_THREADS, describe_threads(document)


def check_hidden(document: dict[str, Any], sleeper: Sleeper) -> None:
    assert thread_by_tid(document, native_tid(sleeper)) is None
    assert len(document["threads"]) == PYTHON_THREADS, describe_threads(document)
    assert all(t["python"] for t in document["threads"])


@pytest.mark.parametrize("source", ["core", "remote"])
def test_native_hides_the_c_thread(any_python: Sleeper, tools: Tools, source: str) -> None:
    check_hidden(analyze(tools, any_python, source, "--native"), any_python)


@pytest.mark.parametrize("source", ["core", "remote"])
def test_native_last_hides_the_c_thread(
    with_native_thread: Sleeper, tools: Tools, source: str
) -> None:
    check_hidden(analyze(tools, with_native_thread, source, "--native-last"), with_native_thread)


@pytest.mark.parametrize("source", ["core", "remote"])
def test_native_all_text(with_native_thread: Sleeper, tools: Tools, source: str) -> None:
    if source == "core":
        result = tools.triage_core(with_native_thread.core, "--native-all", "--no-color")
    else:
        wait_all_sleeping(with_native_thread.target.pid)
        result = tools.triage(
            "remote", str(with_native_thread.target.pid), "--native-all", "--no-color"
        )
    assert result.returncode == 0, result.describe()
    threads = parse_threads(result.stdout)
    thread = threads.get(native_tid(with_native_thread))
    assert thread is not None, result.stdout
    assert f"(C) {SLEEPER}" in thread.functions(), result.stdout
    assert all(frame.kind == "native" for frame in thread.frames)
