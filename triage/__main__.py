"""The program ``triage``: the console script and ``python -m triage`` both run ``launch``."""

import gc

# Importing the command line allocates many objects and no garbage: the collector would only
# pass over them again and again. ``main`` turns it back on for the long-running commands.
gc.disable()


def launch() -> None:
    import sys

    from triage.cli import exit_now, exits_at_once, main

    code = main(collect=True)
    if exits_at_once():
        exit_now(code)
    sys.exit(code)


if __name__ == "__main__":
    launch()
