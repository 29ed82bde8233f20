"""Batch job files: ``jobs.yaml`` / ``jobs.json`` / ``jobs.jsonl`` -> validated :class:`Job` list.

A job is a mapping::

    kind: swap                         # swap | lipsync | "module:ATTRIBUTE" (a JobKind)
    inputs: {source: face.jpg, target: clip.mp4}   # or a list in the kind's order
    output: out/clip.mp4
    options: {swapper: inswapper_128}  # keyword arguments of the pipeline function
    name: clip                         # optional label for progress and the summary
    chunk_seconds: 60                  # optional: split this job's video (overrides the CLI)

YAML files hold a list of jobs or ``{jobs: [...]}`` (YAML needs PyYAML: ``pip install
pyyaml`` or ``facefuse[yaml]``); ``.json`` the same in JSON; ``.jsonl`` one job object per
line (blank lines and lines starting with ``#`` are skipped). Relative paths are relative
to the job file's directory. Everything is checked before anything runs, and every
problem is reported at once, naming the job (index and line) and the field.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .kinds import RANGE_ARGS, resolve_kind

__all__ = ["Job", "JobFileError", "load_jobs", "parse_jobs", "path_problems", "RESERVED_OPTIONS"]

#: options the batch runner sets itself (a job may not)
RESERVED_OPTIONS = frozenset({"pool", "on_progress", "progress", *RANGE_ARGS})
_FIELDS = ("kind", "inputs", "output", "options", "name", "chunk_seconds")


class JobFileError(ValueError):
    """A job file cannot be read or holds invalid jobs; ``problems`` lists each one."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the job file:\n{lines}")


@dataclass(frozen=True)
class Job:
    """One validated job. Paths are absolute; ``inputs`` is in the kind's call order."""

    index: int                      # 0-based position in the job file
    line: Optional[int]             # 1-based line in the job file (None when unknown)
    name: str
    kind: str
    inputs: Dict[str, str]
    output: str
    options: Dict[str, Any] = field(default_factory=dict)
    chunk_seconds: Optional[float] = None

    @property
    def key(self) -> str:
        """sha256 of (kind, inputs, output, options): the job's identity in the manifest."""
        doc = json.dumps({"kind": self.kind, "inputs": self.inputs, "output": self.output,
                          "options": self.options}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"job {self.index}" + (f" (line {self.line})" if self.line else "") + f" {self.name!r}"


# ----------------------------------------------------------------------------- reading

def _yaml_lines(text: str) -> Optional[List[int]]:
    """1-based start line of each job in a YAML document (None when not a job list)."""
    import yaml

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if getattr(k, "value", None) == "jobs"), None)
    if not isinstance(node, yaml.SequenceNode):
        return None
    return [item.start_mark.line + 1 for item in node.value]


def _read(path: str) -> Tuple[Any, Optional[List[int]]]:
    """(raw job list or document, per-job line numbers or None)."""
    ext = os.path.splitext(path)[1].lower()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if ext == ".jsonl":
        items, lines = [], []
        for n, raw in enumerate(text.splitlines(), 1):
            s = raw.strip()
            if not s or s.startswith("#"):
                continue
            try:
                items.append(json.loads(s))
            except json.JSONDecodeError as e:
                raise JobFileError(path, [f"line {n}: not valid JSON: {e.msg} (column {e.colno})"]) from None
            lines.append(n)
        return items, lines
    if ext == ".json":
        try:
            return json.loads(text), None
        except json.JSONDecodeError as e:
            raise JobFileError(path, [f"line {e.lineno}: not valid JSON: {e.msg}"]) from None
    if ext in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise JobFileError(path, ["reading YAML job files needs PyYAML (pip install pyyaml, or "
                                      "facefuse[yaml]); or write the jobs as .jsonl / .json"]) from None
        try:
            return yaml.safe_load(text), _yaml_lines(text)
        except yaml.YAMLError as e:
            raise JobFileError(path, [f"not valid YAML: {e}"]) from None
    raise JobFileError(path, [f"unknown job file type {ext!r}: expected .yaml, .yml, .json or .jsonl"])


def load_jobs(path: "str | os.PathLike[str]") -> List[Job]:
    """Read and validate a job file (see the module docstring). Raises JobFileError
    (a ValueError) listing every problem, FileNotFoundError when the file is missing."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"load_jobs: no such job file: {p!r}")
    doc, lines = _read(p)
    return parse_jobs(doc, base_dir=os.path.dirname(os.path.abspath(p)), source=p, lines=lines)


# ----------------------------------------------------------------------------- validation

def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_jobs(doc: Any, *, base_dir: str = ".", source: str = "<jobs>",
               lines: Optional[Sequence[Optional[int]]] = None) -> List[Job]:
    """Validate a list of job mappings (or ``{"jobs": [...]}``) into :class:`Job` objects.

    Relative paths are taken relative to ``base_dir``. Raises JobFileError listing every
    problem ("job 2 (line 7), field 'inputs.target': no such file: ...").
    """
    if isinstance(doc, dict) and set(doc) == {"jobs"}:
        doc = doc["jobs"]
    if not isinstance(doc, list):
        raise JobFileError(source, [f"expected a list of jobs (or a mapping with a 'jobs' list), "
                                    f"got {type(doc).__name__}"])
    if not doc:
        raise JobFileError(source, ["the job file holds no job"])
    problems: List[str] = []
    jobs: List[Job] = []
    files: List[_Files] = []  # what each job with a valid output reads and writes, also an invalid job
    for i, item in enumerate(doc):
        line = lines[i] if lines is not None and i < len(lines) else None
        where = f"job {i}" + (f" (line {line})" if line else "")

        def bad(fld: Optional[str], msg: str) -> None:
            problems.append(f"{where}" + (f", field '{fld}'" if fld else "") + f": {msg}")

        if not isinstance(item, dict):
            bad(None, f"expected a mapping with {', '.join(_FIELDS[:4])}, got {type(item).__name__}")
            continue
        unknown = sorted(set(map(str, item)) - set(_FIELDS))
        if unknown:
            bad(", ".join(unknown), f"unknown field(s); a job has {', '.join(_FIELDS)}")
        missing = [f for f in ("kind", "inputs", "output") if f not in item]
        for f in missing:
            bad(f, "missing")
        kind = None
        if "kind" in item:
            try:
                kind = resolve_kind(item["kind"])
            except (ValueError, ImportError) as e:
                bad("kind", str(e))
        # inputs
        inputs: Dict[str, str] = {}
        raw_in = item.get("inputs")
        if kind is not None and raw_in is not None:
            if isinstance(raw_in, list):
                if len(raw_in) != len(kind.inputs):
                    bad("inputs", f"kind {kind.name!r} takes {len(kind.inputs)} inputs "
                                  f"({', '.join(kind.inputs)}), got {len(raw_in)}")
                    raw_in = None
                else:
                    raw_in = dict(zip(kind.inputs, raw_in))
            elif not isinstance(raw_in, dict):
                bad("inputs", f"expected a mapping {{{', '.join(kind.inputs)}}} or a list, "
                              f"got {type(raw_in).__name__}")
                raw_in = None
            if isinstance(raw_in, dict):
                extra = sorted(set(map(str, raw_in)) - set(kind.inputs))
                if extra:
                    bad("inputs", f"unknown input(s) {', '.join(extra)}; kind {kind.name!r} takes "
                                  f"{', '.join(kind.inputs)}")
                for name in kind.inputs:
                    v = raw_in.get(name)
                    if v is None:
                        bad(f"inputs.{name}", "missing")
                    elif not isinstance(v, str) or not v:
                        bad(f"inputs.{name}", f"expected a file path, got {v!r}")
                    else:
                        full = os.path.abspath(os.path.join(base_dir, os.path.expanduser(v)))
                        if not os.path.isfile(full):
                            bad(f"inputs.{name}", f"no such file: {full!r}")
                        inputs[name] = full
        # output
        output = None
        raw_out = item.get("output")
        if "output" in item:
            if not isinstance(raw_out, str) or not raw_out:
                bad("output", f"expected a file path, got {raw_out!r}")
            else:
                output = os.path.abspath(os.path.join(base_dir, os.path.expanduser(raw_out)))
                if not os.path.splitext(output)[1]:
                    bad("output", f"{output!r} has no extension (the container format comes from it, e.g. .mp4)")
                elif os.path.isdir(output):
                    bad("output", f"{output!r} is a directory")
        # options
        options = item.get("options", {})
        if options is None:
            options = {}
        if not isinstance(options, dict):
            bad("options", f"expected a mapping of keyword arguments, got {type(options).__name__}")
            options = {}
        else:
            for k in options:
                if not isinstance(k, str) or not k.isidentifier():
                    bad("options", f"option name {k!r} is not a keyword argument name")
            reserved = sorted(RESERVED_OPTIONS & set(options))
            if reserved:
                bad("options", f"{', '.join(reserved)} set by the batch runner, not by a job")
            try:
                json.dumps(options, sort_keys=True)
            except (TypeError, ValueError) as e:
                bad("options", f"values must be plain data (numbers, strings, lists, mappings): {e}")
            if kind is not None:
                try:
                    names, var_kw = kind.parameters()
                except ImportError as e:
                    bad("kind", str(e))
                else:
                    unknown_opts = sorted(set(options) - names - RESERVED_OPTIONS) if not var_kw else []
                    if unknown_opts:
                        known = sorted(names - set(kind.inputs) - {"output"} - RESERVED_OPTIONS)
                        bad("options", f"{', '.join(unknown_opts)} not accepted by {kind.function}; "
                                       f"it takes {', '.join(known) or 'no options'}")
        # chunking and name
        chunk = item.get("chunk_seconds")
        if chunk is not None and (not _is_number(chunk) or chunk <= 0):
            bad("chunk_seconds", f"expected a positive number of seconds, got {chunk!r}")
            chunk = None
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            bad("name", f"expected a string, got {name!r}")
            name = None
        if output is not None:
            files.append(_Files(where, dict(inputs), output, dict(options), kind))
        if kind is None or output is None or len(inputs) != len(kind.inputs):
            continue
        jobs.append(Job(index=i, line=line, name=name or os.path.basename(output), kind=str(item["kind"]),
                        inputs={k: inputs[k] for k in kind.inputs}, output=output, options=dict(options),
                        chunk_seconds=float(chunk) if chunk is not None else None))
    problems.extend(_path_problems(files))  # no file written is read or written twice, in any job
    if problems:
        raise JobFileError(source, problems)
    return jobs


@dataclass
class _Files:
    where: str
    inputs: Dict[str, str]
    output: str
    options: Dict[str, Any]
    kind: Any  # JobKind or None


def path_problems(jobs: Sequence[Job]) -> List[str]:
    """Every file a batch writes (each job's output and the files its kind's
    ``output_options`` name) must differ from every file any job reads (inputs and
    ``input_options``) and from every other file written: compared as files
    (:func:`facefuse._files.same_file`: symlinked folders and hard links resolved), since
    the jobs run in parallel. Option paths are taken as the pipeline opens them (relative
    to the working directory); an input option counts when it names a folder or an existing
    file (a bare model name is looked up in the models directory). Returns one problem line
    per clash: ``job 1 (line 2), field 'output': '/o/a.mp4' is also the output of job 0 (line 1)``."""
    files = []
    for j in jobs:
        try:
            kind = resolve_kind(j.kind)
        except (ValueError, ImportError):
            kind = None
        where = f"job {j.index}" + (f" (line {j.line})" if j.line else "")
        files.append(_Files(where, dict(j.inputs), j.output, dict(j.options), kind))
    return _path_problems(files)


def _path_problems(files: Sequence[_Files]) -> List[str]:
    from .._files import path_collisions

    reads: List[Tuple[Any, Any]] = []
    writes: List[Tuple[Any, Any]] = []
    for j in files:
        in_opts = j.kind.input_options if j.kind is not None else ()
        out_opts = j.kind.output_options if j.kind is not None else ()
        for name, p in j.inputs.items():
            reads.append(((j, f"inputs.{name}", p), p))
        for opt in in_opts:
            v = j.options.get(opt)
            if isinstance(v, str) and v and (os.path.dirname(v) or os.path.exists(v)):
                full = os.path.abspath(os.path.expanduser(v))
                reads.append(((j, f"options.{opt}", full), full))
        writes.append(((j, "output", j.output), j.output))
        for opt in out_opts:
            v = j.options.get(opt)
            if isinstance(v, str) and v:
                full = os.path.abspath(os.path.expanduser(v))
                writes.append(((j, f"options.{opt}", full), full))
    problems = []
    for (wj, wfield, wpath), (oj, ofield, _) in path_collisions(reads, writes):
        whose = "this job" if oj is wj else oj.where
        if ofield == "output":
            other = f"the output of {whose}"
        elif ofield.startswith("inputs."):
            other = f"input '{ofield[len('inputs.'):]}' of {whose}"
        else:
            other = f"field '{ofield}' of {whose}"
        problems.append(f"{wj.where}, field '{wfield}': {wpath!r} is also {other} (the same file)")
    return problems
