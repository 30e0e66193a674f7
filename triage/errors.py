"""The exceptions of coretriage; the CLI turns each into one line on stderr and its exit code."""

from __future__ import annotations

# The documented exit codes (README); scripts depend on them.
EXIT_OK = 0
EXIT_ANALYSIS_FAILED = 1
EXIT_USAGE = 2
EXIT_INPUT = 3


class TriageError(Exception):
    """An expected failure: a message for the user, an exit code, and optional help text."""

    exit_code: int = EXIT_ANALYSIS_FAILED

    def __init__(self, message: str, exit_code: int | None = None, help: str | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code
        self.help = help

    def __str__(self) -> str:
        return self.message


class InputError(TriageError):
    """The input cannot be used: no such file, not a core, permission denied."""

    exit_code = EXIT_INPUT


class AnalysisFailed(TriageError):
    """The input was read but gave nothing usable (not a Python process, no interpreter state)."""

    exit_code = EXIT_ANALYSIS_FAILED


class UsageError(TriageError):
    """The command line is inconsistent in a way argparse cannot check by itself."""

    exit_code = EXIT_USAGE


class StoreError(TriageError):
    """The crash database cannot be opened, read or written; the message names the database."""

    exit_code = EXIT_INPUT


class SpoolError(TriageError):
    """A spool directory cannot be watched or read."""

    exit_code = EXIT_INPUT


class ReportError(TriageError):
    """The HTML report cannot be written (templates missing, output directory unwritable)."""

    exit_code = EXIT_INPUT
