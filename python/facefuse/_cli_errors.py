"""How the ``facefuse`` commands print the Python API's errors and warnings.

The API's messages start with the function's name and name its own arguments
(``swap_video: argument 'detector_size' must be ...``); a command prints them after its
own name (``facefuse swap: error: ...``). So it drops that leading function name and
writes each argument that is also one of its options as the flag the user typed
(``argument --detector-size must be ...``): one mapping, not edits of the text.
"""
from __future__ import annotations

import argparse
import re
from typing import Iterable, Mapping, Optional

__all__ = ["flag_table", "name_flags", "error_text", "warning_text"]

_ARGUMENT = re.compile(r"argument '(\w+)'")


def flag_table(args: argparse.Namespace, renames: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """API argument name -> flag: each option of ``args`` (``detector_size`` -> ``--detector-size``),
    then ``renames`` for an API argument whose option has another name (``reference`` ->
    ``--reference-image``)."""
    flags = {k: "--" + k.replace("_", "-") for k in vars(args) if k not in ("command", "func")}
    flags.update(renames or {})
    return flags


def name_flags(message: str, args: argparse.Namespace, renames: Optional[Mapping[str, str]] = None) -> str:
    """``message`` with each ``argument 'name'`` that :func:`flag_table` maps written as the flag:
    ``argument 'detector_size' must be ...`` -> ``argument --detector-size must be ...``."""
    flags = flag_table(args, renames)
    return _ARGUMENT.sub(lambda m: f"argument {flags[m.group(1)]}" if m.group(1) in flags else m.group(0),
                         message)


def error_text(error: object, args: argparse.Namespace, *, api: Iterable[str] = (),
               renames: Optional[Mapping[str, str]] = None) -> str:
    """What a command prints for ``error``: its text without a leading ``name: `` of the API
    functions ``api`` (the command is named already), arguments as flags (:func:`name_flags`)."""
    msg = str(error)
    for name in api:
        if msg.startswith(name + ": "):
            msg = msg[len(name) + 2:]
    return name_flags(msg, args, renames)


def warning_text(note: str) -> str:
    """A result's warning without the name of what raised it (``VideoWriter: ...``): the
    command prints it as its own ``facefuse CMD: warning: ...`` line."""
    return note.split(": ", 1)[-1]
