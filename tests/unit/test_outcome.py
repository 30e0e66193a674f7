"""An outcome crosses the worker's pipe as JSON and comes back equal, every field kept."""

from __future__ import annotations

import json

from triage.outcome import HANG, Facts, Outcome, outcome_from_json, outcome_to_json
from triage.signature import Signature


def test_an_outcome_survives_the_pipe() -> None:
    signature = Signature("hang | app:wait", "ab" * 32, "frame app:wait", "1+x", ("kept",), 7, True)
    facts = Facts("3.12.1", None, 42, "/usr/bin/python3", HANG, 103)
    for outcome in (
        Outcome("done", None, {"schema": 1, "threads": []}, facts, signature),
        Outcome("failed", "analysis timed out after 4 s"),
    ):
        assert outcome_from_json(json.loads(json.dumps(outcome_to_json(outcome)))) == outcome
