"""Writes the seed corpus of the fuzz target: small real cores, made here and now.

Usage: python fuzz_seeds.py DIRECTORY. Seeds: a Python process that aborted with only its
ELF headers dumped (notes, mapped files, build ids: no heap), a tiny C program that
segfaulted (a whole core, a few hundred KiB), and each of them compressed with zstd and gzip.
"""

from __future__ import annotations

import gzip
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MAX_SEED = 384 * 1024  # the fuzzer's -max_len
ONLY_ELF_HEADERS = "0x10"  # /proc/PID/coredump_filter: bit 4, the first page of ELF mappings
C_PROGRAM = "int main(void) { volatile int *p = 0; return *p; }\n"


def crash(argv: list[str], cwd: Path) -> Path | None:
    def allow_cores() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)

    subprocess.run(argv, cwd=cwd, preexec_fn=allow_cores, capture_output=True, timeout=60)
    cores = sorted(cwd.glob("core*"))
    return cores[0] if cores else None


def python_seed(work: Path) -> Path | None:
    code = (
        f"open('/proc/self/coredump_filter', 'w').write('{ONLY_ELF_HEADERS}')\n"
        "import os\nos.abort()\n"
    )
    return crash([sys.executable, "-S", "-c", code], work)


def c_seed(work: Path) -> Path | None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    (work / "tiny.c").write_text(C_PROGRAM)
    subprocess.run([compiler, "-O0", "-g", "-o", "tiny", "tiny.c"], cwd=work, check=True)
    return crash(["./tiny"], work)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, make in (("python", python_seed), ("c", c_seed)):
        with tempfile.TemporaryDirectory() as work:
            core = make(Path(work))
            if core is None or core.stat().st_size > MAX_SEED:
                print(f"fuzz_seeds: no {name} seed", file=sys.stderr)
                continue
            data = core.read_bytes()
        (out / f"{name}.core").write_bytes(data)
        (out / f"{name}.core.gz").write_bytes(gzip.compress(data))
        if shutil.which("zstd"):
            zst = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True)
            (out / f"{name}.core.zst").write_bytes(zst.stdout)
    print(f"fuzz_seeds: {len(os.listdir(out))} seeds in {out}")


if __name__ == "__main__":
    main()
