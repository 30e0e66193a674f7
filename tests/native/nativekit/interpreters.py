"""The interpreters under test: the suites share one discovery (tests/coretest)."""

from coretest.interpreters import (  # noqa: F401 - re-exported for the native suite
    SELECT_ENV,
    Interpreter,
    current,
    discover,
    pyenv_prefix,
    selected,
)
