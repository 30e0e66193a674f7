"""One analysis, one answer: the signature, the crash page, the group page and `triage show`
read the same model, so they name the same thread, the same counts and the same example crash.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from coretest import interpreters
from coretest.cores import CoreCase, CoreFactory
from coretest.scenarios import KERNEL_MODES, matrix

from triage.analysis import analyze_core
from triage.document import from_json, to_json
from triage.report.context import build_crash_page
from triage.report.frames import signed_thread_view
from triage.report.records import crash_record
from triage.signature import compute


def test_every_core_names_one_thread_and_round_trips(core_case: CoreCase) -> None:
    if core_case.key.scenario.name in SKIPPED:
        pytest.skip("12,000 frames with every native frame: minutes, and nothing more to learn")
    # As the pipeline's workers analyze: every thread's native stack, and locals.
    analysis = analyze_core(core_case.core, locals=True, native_mode="all")
    stored = json.loads(json.dumps(to_json(analysis)))
    assert from_json(stored) == analysis
    signature = compute(analysis)
    assert signature.tid is not None, signature.notes
    page = build_crash_page(crash_record({"id": 1, "analysis": stored}), None)
    assert page.threads[0].tid == signature.tid  # the crash page leads with the signed thread
    example = signed_thread_view(from_json(stored), with_locals=True)
    assert example is not None and example.tid == signature.tid  # a group's example stack
    if analysis.is_snapshot:
        assert signature.text.startswith("hang"), signature.text
    else:
        assert signature.tid == core_case.truth.crashed_thread.tid


# Scenarios whose program is the same on Python 2 and 3 (the others have a variant per major
# version: other code, another bug). deep_recursion is left out: 12,000 frames with every
# native frame and local cost more time than they add here.
SAME_CODE_EVERYWHERE = {"nested.py", "threads.py", "recursion.py", "callback.py", "methods.py"}
SKIPPED = {"deep_recursion"}


@pytest.fixture(scope="module")
def ingested(
    core_factory: CoreFactory, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A database of the kernel cores of every selected interpreter, and its report; with the
    (scenario, mode) each core's path stands for."""
    keys = [k for k in matrix(interpreters.selected(), modes=KERNEL_MODES)]
    cases = [core_factory.get(k) for k in keys if k.scenario.name not in SKIPPED]
    cases = [case for case in cases if case.kernel]  # a gcore fallback is a snapshot, not a crash
    if not cases:
        pytest.skip("no kernel core here")
    root = tmp_path_factory.mktemp("consistency")
    run(root, "ingest", *(str(case.core) for case in cases), "--reports", str(root / "site"))
    # A bug is a program and a way to crash: scenarios that run one script from differently
    # named directories are one bug (a directory is a deploy detail).
    bugs = {str(case.core): (case.key.scenario.script, case.key.mode) for case in cases}
    return root, bugs


def test_one_bug_is_one_group_on_every_version(
    ingested: tuple[Path, dict[str, tuple[str, str]]],
) -> None:
    root, bugs = ingested
    crashes = json.loads(run(root, "crashes", "--json", "--limit", "100000").stdout)
    groups: dict[tuple[str, str], set[int]] = {}
    for crash in crashes:
        assert crash["status"] == "done", crash
        groups.setdefault(bugs[crash["path"]], set()).add(crash["group"])
    for (script, mode), found in groups.items():
        if script in SAME_CODE_EVERYWHERE:
            assert len(found) == 1, (script, mode, found)
    everyone = [group for found in groups.values() for group in found]
    assert len(everyone) == len(set(everyone))  # two bugs never share a group


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "triage", *args, "--db", f"sqlite:///{root / 'triage.db'}"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=root, timeout=1800)
    assert result.returncode in (0, 1), result.stderr
    return result


def test_show_and_group_page_agree(ingested: tuple[Path, dict[str, tuple[str, str]]]) -> None:
    ingested_root = ingested[0]
    groups = json.loads(run(ingested_root, "groups", "--json", "--limit", "1000").stdout)
    assert groups
    for group in groups:
        shown = json.loads(run(ingested_root, "show", str(group["id"]), "--json").stdout)
        page = (ingested_root / "site" / "groups" / f"{group['id']}.html").read_text()
        example = re.search(r'href="\.\./crashes/(\d+)\.html">crash #\1</a>', page)
        assert example is not None and int(example.group(1)) == shown["example_crash"]
        for kind, facet in shown["breakdowns"].items():
            expected = [(value, count) for value, count in facet["values"]]
            if facet["unknown"]:
                expected.append(("unknown", facet["unknown"]))
            assert _page_breakdown(page, kind) == expected, kind
        stack = from_json(shown["stack"])
        assert compute(stack).tid == signed_tid(page)


_TITLES = {
    "python_version": "Python versions",
    "executable": "Executables",
    "host": "Hosts",
    "release": "Releases",
}


def _page_breakdown(page: str, kind: str) -> list[tuple[str, int]]:
    block = page.split(f"<h3>{_TITLES[kind]}</h3>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<td class="list">(.*?)</td><td class="num">(\d+)</td>', block)
    return [(label, int(count)) for label, count in rows]


def signed_tid(page: str) -> int:
    stack = page.split("<h2>Representative stack</h2>", 1)[1]
    found = re.search(r"Thread (\d+)", stack)
    assert found is not None
    return int(found.group(1))
