"""Every ``--help`` of the ``facefuse`` command shows each option's choices and default."""
from __future__ import annotations

import argparse

import pytest

from facefuse.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, name: str = "facefuse"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from _commands(p, f"{name} {sub}")


COMMANDS = list(_commands(build_parser()))


def test_all_commands_are_walked() -> None:
    names = {n for n, _ in COMMANDS}
    assert {"facefuse swap", "facefuse lipsync", "facefuse export-diff2lip", "facefuse doctor",
            "facefuse models download", "facefuse batch", "facefuse bench"} <= names


@pytest.mark.parametrize("name,parser", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_shows_choices_and_defaults(name: str, parser: argparse.ArgumentParser) -> None:
    text = " ".join(parser.format_help().split())  # argparse wraps lines
    for a in parser._actions:
        if a.help == argparse.SUPPRESS or isinstance(a, (argparse._HelpAction, argparse._VersionAction,
                                                         argparse._SubParsersAction)):
            continue
        flag = "/".join(a.option_strings) or a.dest
        if a.choices:
            for c in a.choices:
                assert str(c) in text, f"{name} --help: {flag} does not show the choice {c!r}"
        if a.default not in (None, False, argparse.SUPPRESS) and a.option_strings:
            assert "default" in (a.help or "").lower() and str(a.default).split(".0")[0] in a.help, \
                f"{name} --help: {flag} does not show its default {a.default!r}"


def test_swap_help_runs(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["swap", "--help"])
    assert e.value.code == 0 and "--allow-no-change" in capsys.readouterr().out
