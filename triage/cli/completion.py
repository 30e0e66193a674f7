"""``triage completion bash|zsh``: a completion script made from the parser itself."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

BASH = """\
# bash completion for triage (made by `triage completion bash`)
_triage() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" command="${{COMP_WORDS[1]}}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W {commands} -- "$cur"))
        return
    fi
    case "$command" in
{cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}}
complete -o filenames -F _triage triage
"""
ZSH = """\
# zsh completion for triage (made by `triage completion zsh`)
autoload -U bashcompinit && bashcompinit
{bash}"""


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "completion",
        parents=[common],
        help="print a shell completion script",
        description='Print a completion script: `eval "$(triage completion bash)"` in '
        "~/.bashrc (or zsh's ~/.zshrc).",
    )
    parser.set_defaults(run=run)
    parser.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    from . import build_parser

    print(script(build_parser(()), args.shell), end="")
    return 0


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    subcommands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    cases = []
    for name, sub in subcommands.choices.items():
        flags = sorted(flag for action in sub._actions for flag in action.option_strings)
        cases.append(f"        {name}) options={shlex.quote(' '.join(flags))} ;;")
    text = BASH.format(commands=shlex.quote(" ".join(subcommands.choices)), cases="\n".join(cases))
    return ZSH.format(bash=text) if shell == "zsh" else text
