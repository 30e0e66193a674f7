"""The signature corpus (signatures/*.json, one case per file) and a few properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from triage.document import from_json
from triage.errors import UsageError
from triage.model import Frame, FrameKind
from triage.signature import RULES_VERSION, Signature, default_config, load_config
from triage.signature import compute as compute_model
from triage.signature.normalize import native_token, python_module

CORPUS = Path(__file__).with_name("signatures")


def compute(document: dict[str, Any], config: Any = None) -> Signature:
    """The signature of a stored document, read as every consumer reads it."""
    return compute_model(from_json(document), config)


CASES = sorted(path.stem for path in CORPUS.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / f"{name}.json").read_text())


def signature_of(name: str, tmp_path: Path) -> Any:
    case = load(name)
    config = default_config()
    if "config_toml" in case:
        path = tmp_path / f"{name}.toml"
        path.write_text(case["config_toml"])
        config = load_config(path)
    return compute(case["analysis"], config)


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", CASES)
def test_case(name: str, tmp_path: Path) -> None:
    case = load(name)
    signature = signature_of(name, tmp_path)
    assert signature.text == case["expected"], "\n".join(signature.notes)
    if "same_group_as" in case:
        assert signature.hash == signature_of(case["same_group_as"], tmp_path).hash
    if "different_group_from" in case:
        assert signature.hash != signature_of(case["different_group_from"], tmp_path).hash


def test_hashed_text_is_shown_and_is_what_was_hashed() -> None:
    import hashlib

    signature = compute(load("python_abort_basic")["analysis"])
    assert signature.hash == hashlib.sha256(signature.hashed_text.encode()).hexdigest()
    assert "frame python server:handle" in signature.hashed_text
    assert "server:Handler.handle" in signature.text  # the qualname is shown, not hashed
    assert signature.rules_version == RULES_VERSION
    assert any("skipped runpy" in note for note in signature.notes)


def test_config_changes_the_rules_version(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("frames = 3\n")
    assert load_config(path).digest is not None
    signature = compute(load("python_abort_basic")["analysis"], load_config(path))
    assert signature.rules_version != RULES_VERSION


def test_config_reaches_the_workers_whole(tmp_path: Path) -> None:
    """Workers sign with the settings the watcher was given, sent to them as JSON."""
    from triage.signature.config import config_from_json, config_to_json

    path = tmp_path / "rules.toml"
    path.write_text(
        'frames = 3\napp_roots = ["/srv"]\nskip_python = ["lib\\\\.retry:"]\n'
        '[scrub]\nnames = ["pin"]\n'
    )
    config = load_config(path)
    again = config_from_json(json.loads(json.dumps(config_to_json(config))))
    assert again == config and again.scrub == config.scrub
    assert again.scrub.sensitive("card_pin") and again.app_roots == ("/srv",)
    analysis = load("python_abort_basic")["analysis"]
    assert compute(analysis, again) == compute(analysis, config)


@pytest.mark.parametrize(
    "text",
    ["frames = 0\n", "frames = 'x'\n", "unknown = 1\n", "skip_python = ['(']\n", "not toml ["],
)
def test_bad_config_is_a_usage_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError):
        load_config(path)


def test_missing_config_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    "document",
    [{}, {"threads": None}, {"process": {"signal": None}, "threads": [{"frames": [{}]}]}],
)
def test_odd_documents_never_raise(document: dict[str, Any]) -> None:
    assert compute(document).text.startswith("no-signal")


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("/usr/lib/python3.12/asyncio/events.py", "asyncio.events"),
        ("/opt/venv/lib/python3.9/site-packages/numpy/core/__init__.py", "numpy.core"),
        ("/usr/lib/python3/dist-packages/apt/cache.py", "apt.cache"),
        ("<frozen importlib._bootstrap>", "importlib._bootstrap"),
        ("<string>", "<string>"),
        ("/tmp/pytest-1/run-3/release-2/app.py", "app"),
        ("/srv/app/pkg/__init__.py", "pkg"),
        (None, "<unknown>"),
    ],
)
def test_python_module(path: str | None, module: str) -> None:
    assert python_module(path) == module


@pytest.mark.parametrize(
    ("function", "token"),
    [
        ("__GI_raise", "raise"),
        ("__strlen_avx2", "strlen"),
        ("foo.constprop.0.isra.1", "foo"),
        ("ns::Type::method(int) const", "ns::Type::method"),
        ("??", None),
        ("", None),
    ],
)
def test_native_token(function: str, token: str | None) -> None:
    frame = Frame(kind=FrameKind.NATIVE, function=function, file=None, line=None)
    assert native_token(frame) == token
