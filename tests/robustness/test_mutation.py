"""Seeded mutation test: corrupted real cores of every interpreter, in every output mode.

Each mutated core runs in every mode in its own child with a timeout: no crash, no hang, no
traceback, only exit 0 (a partial answer), 1 or 3 with one line on stderr. The seed and the
number of mutated cores per interpreter come from the environment, so a longer or different
run is one variable away: TRIAGE_MUTATION_SEED, TRIAGE_MUTATIONS (see docs/robustness.md).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from coretest.cores import CoreFactory
from coretest.scenarios import CoreKey
from mutate import Mutation, boundary_cuts, flips
from robustkit import core_keys, get_core, problems, run_many

SEED = int(os.environ.get("TRIAGE_MUTATION_SEED", "20261130"))
PER_INTERPRETER = int(os.environ.get("TRIAGE_MUTATIONS", "6"))
MODES = {
    "plain": (),
    "locals": ("--locals",),
    "native": ("--native",),
    "native-all": ("--native-all",),
    "pipeline": ("--native-all", "--locals", "--json"),
}


def pick(core: Path, rng: random.Random, count: int) -> list[Mutation]:
    """Half cuts at structure boundaries, half corrupted bytes, chosen by the seed."""
    cuts = boundary_cuts(core)
    chosen = rng.sample(cuts, min(len(cuts), (count + 1) // 2))
    return chosen + flips(core, rng, count - len(chosen))


def check(mutations: list[Mutation], core: Path, workdir: Path, modes: dict) -> None:
    commands, labels = [], []
    for i, mutation in enumerate(mutations):
        target = mutation.write(core, workdir / f"mutant-{i}.core")
        for mode, flags in modes.items():
            commands.append(["core", str(target), "--no-color", *flags])
            labels.append(f"{mutation.describe()} [{mode}]")
    failures = [
        f"{label}: {'; '.join(found)}"
        for label, result in zip(labels, run_many(commands, workdir))
        if (found := problems(result))
    ]
    assert not failures, f"{len(failures)} of {len(commands)} runs failed:\n" + "\n".join(failures)


@pytest.mark.parametrize("key", core_keys(), ids=lambda key: key.interpreter.id)
def test_mutated_cores(core_factory: CoreFactory, key: CoreKey, tmp_path: Path) -> None:
    core = get_core(core_factory, key).core
    rng = random.Random(f"{SEED}-{key.interpreter.id}")
    check(pick(core, rng, PER_INTERPRETER), core, tmp_path, MODES)
