"""``facefuse models``: the model files facefuse knows, where they are, and fetching them.

    facefuse models list [--models-dir DIR] [--json]
    facefuse models download [NAMES...] [--all] [--set swap|lipsync] [--force] [--models-dir DIR] [--no-progress]
    facefuse models verify [NAMES...] [--models-dir DIR] [--offline]
    facefuse models path NAME [--models-dir DIR]

Exit status: 0 done; 1 a file missing, failing its hash or failing to download; 2 bad usage.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

__all__ = ["add_parser", "run", "model_status"]


def add_parser(sub: Any) -> None:
    from .inference.registry import MODEL_SETS

    p = sub.add_parser("models", help="list, download, verify or locate the model files",
                       description="The model files facefuse loads (FaceFusion's), where they are, and fetching "
                                   "them from FaceFusion's hosts (or $FACEFUSE_MODEL_URL) with the published CRC32 "
                                   "check. Downloads go to the first writable of --models-dir, $FACEFUSE_MODELS, "
                                   "~/.facefuse/models (never into a FaceFusion .assets/models folder).")
    ms = p.add_subparsers(dest="models_command", metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--models-dir", default=None, metavar="DIR",
                       help="models directory searched first (then $FACEFUSE_MODELS, ~/.facefuse/models)")

    q = ms.add_parser("list", help="every known model: file, where it is, where it comes from")
    common(q)
    q.add_argument("--json", action="store_true", help="print the table as JSON")
    q = ms.add_parser("download", help="download model files (missing ones; --force: again)")
    q.add_argument("names", nargs="*", metavar="NAME", help="model names or file names (see `facefuse models list`)")
    q.add_argument("--all", action="store_true", help="every downloadable model")
    q.add_argument("--set", choices=tuple(MODEL_SETS), default=None,
                   help="what a command loads with its defaults: " +
                        "; ".join(f"{k}: {', '.join(v)}" for k, v in MODEL_SETS.items()))
    q.add_argument("--force", action="store_true", help="download even when the file is there")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(q)
    q = ms.add_parser("verify", help="check files found against their published CRC32 hash")
    q.add_argument("names", nargs="*", metavar="NAME", help="models to check (default: every file found)")
    q.add_argument("--offline", action="store_true",
                   help="only the .hash files beside the models, no network (also FACEFUSE_OFFLINE=1)")
    common(q)
    q = ms.add_parser("path", help="print the path of a model file (exit 1 when it is missing)")
    q.add_argument("name", metavar="NAME")
    common(q)


def _find(file_name: str, models_dir: Optional[str]) -> Optional[Path]:
    from .inference import ModelNotFoundError, resolve_model

    try:
        return resolve_model(file_name, models_dir)
    except ModelNotFoundError:
        return None


def model_status(entry: Any, models_dir: Optional[str], *, network: bool = False) -> Dict[str, Any]:
    """Where ``entry``'s file is and whether it matches its hash: ``status`` is ``missing``,
    ``hash ok``, ``hash mismatch``, or ``present`` (no hash known: no ``.hash`` beside it and,
    without ``network``, none fetched); ``fix`` is the command that mends it (or None)."""
    from .inference.download import DownloadError, crc32_file, fetch_hash, read_hash_file
    from .inference.fetch import is_facefusion_dir

    md = f" --models-dir {models_dir}" if models_dir else ""
    row: Dict[str, Any] = {"name": entry.name, "file": entry.file_name, "role": entry.role,
                           "path": None, "status": "missing", "fix": None, "hash": None, "published": None}
    path = _find(entry.file_name, models_dir)
    if path is None:
        row["fix"] = f"facefuse models download {entry.name}{md}" if entry.downloadable else entry.how_to_get
        return row
    row["path"] = str(path)
    published = read_hash_file(path.with_name(entry.hash_name))
    if published is None and network and entry.downloadable:
        try:
            published, _ = fetch_hash(entry.hash_urls())
        except DownloadError as e:
            row["hash_error"] = str(e)
    row["status"] = "present"
    if published is not None:
        row["published"] = published
        row["hash"] = crc32_file(path)
        row["status"] = "hash ok" if row["hash"] == published else "hash mismatch"
    if row["status"] == "hash mismatch":
        if is_facefusion_dir(path.parent):
            row["fix"] = (f"FaceFusion's copy is not rewritten by facefuse: delete {path} and let FaceFusion fetch "
                          f"it again, or `facefuse models download {entry.name} --models-dir ~/.facefuse/models` "
                          f"and use that directory")
        else:
            row["fix"] = f"facefuse models download {entry.name} --force{md}"
    elif row["status"] == "present" and entry.downloadable:
        row["fix"] = f"facefuse models verify {entry.name}{md}"
    return row


def _names(args: argparse.Namespace) -> List[Any]:
    from .inference.registry import MODEL_SETS, REGISTRY, lookup

    chosen = [lookup(n) for n in args.names]
    if getattr(args, "set", None):
        chosen += [REGISTRY[n] for n in MODEL_SETS[args.set]]
    if getattr(args, "all", False):
        chosen += [m for m in REGISTRY.values() if m.downloadable]
    seen: List[Any] = []
    for m in chosen:
        if m not in seen:
            seen.append(m)
    return seen


def _list(args: argparse.Namespace) -> int:
    from .inference.fetch import download_dir
    from .inference.registry import MODEL_SETS, REGISTRY

    rows = []
    for m in REGISTRY.values():
        path = _find(m.file_name, args.models_dir)
        rows.append({"name": m.name, "file": m.file_name, "role": m.role, "path": str(path) if path else None,
                     "sets": [k for k, v in MODEL_SETS.items() if m.name in v],
                     "urls": m.urls(), "hash_urls": m.hash_urls(), "licence": m.licence or None,
                     "how_to_get": m.how_to_get or None})
    try:
        target = str(download_dir(args.models_dir, create=False))
    except PermissionError as e:
        target = f"none ({e})"
    if args.json:
        sys.stdout.write(json.dumps({"download_dir": target, "models": rows}, indent=2) + "\n")
        return 0
    print(f"{'name':<26} {'file':<32} {'role':<11} where")
    for r in rows:
        src = r["urls"][0] if r["urls"] else "not downloadable: " + (r["how_to_get"] or "")
        where = r["path"] or f"missing ({src})"
        flags = ("  [non-commercial]" if r["licence"] else "") + (f"  [set: {', '.join(r['sets'])}]" if r["sets"] else "")
        print(f"{r['name']:<26} {r['file']:<32} {r['role']:<11} {where}{flags}")
    print(f"downloads go to: {target}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from .inference.download import DownloadError
    from .inference.fetch import fetch_model

    models = _names(args)
    if not models:
        print("facefuse models download: name models, or use --all / --set swap|lipsync "
              "(`facefuse models list` shows them)", file=sys.stderr)
        return 2
    failed = 0
    for m in models:
        if not m.downloadable:
            if _find(m.file_name, args.models_dir) is not None:
                continue
            if args.all and not args.names and not args.set:
                print(f"skipped {m.file_name}: not downloadable ({m.how_to_get})", file=sys.stderr)
                continue
            print(f"facefuse models download: {m.file_name} is missing and cannot be downloaded: {m.how_to_get}",
                  file=sys.stderr)
            failed += 1
            continue
        found = _find(m.file_name, args.models_dir)
        if found is not None and not args.force:
            print(f"{m.file_name}: already at {found}")
            continue
        try:
            path = fetch_model(m.name, args.models_dir, progress=False if args.no_progress else None,
                               force=args.force)
        except (DownloadError, PermissionError) as e:
            print(f"facefuse models download: error: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{m.file_name}: {path}")
    return 1 if failed else 0


def _verify(args: argparse.Namespace) -> int:
    from .inference.fetch import offline_from_env
    from .inference.registry import REGISTRY

    network = not (args.offline or offline_from_env())
    models = _names(args) if args.names else list(REGISTRY.values())
    bad = 0
    checked = 0
    for m in models:
        row = model_status(m, args.models_dir, network=network)
        if row["status"] == "missing":
            if args.names:  # asked for by name: its absence is a finding
                print(f"missing        {m.file_name}  (fix: {row['fix']})")
                bad += 1
            continue
        checked += 1
        line = f"{row['status']:<14} {m.file_name}  {row['path']}"
        if row["status"] == "hash mismatch":
            line += f"  (CRC32 {row['hash']}, published {row['published']}; fix: {row['fix']})"
            bad += 1
        elif row["status"] == "present":
            line += ("  (no hash: " + (row.get("hash_error") or ("no .hash beside it" + ("" if network else "; offline"))
                                         if m.downloadable else "not published") + ")")
        print(line)
    if not checked and not args.names:
        print("no model files found (`facefuse models download --set swap` fetches the swap models)")
    return 1 if bad else 0


def _path(args: argparse.Namespace) -> int:
    from .inference.fetch import download_dir
    from .inference.registry import lookup

    m = lookup(args.name)
    path = _find(m.file_name, args.models_dir)
    if path is None:
        fix = f"`facefuse models download {m.name}`" if m.downloadable else m.how_to_get
        try:
            where = f" (it would be downloaded to {download_dir(args.models_dir, create=False) / m.file_name})"
        except PermissionError:
            where = ""
        print(f"facefuse models path: {m.file_name} is missing{where}; get it with {fix}", file=sys.stderr)
        return 1
    print(path)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``facefuse models ACTION``; returns the exit status."""
    action = {"list": _list, "download": _download, "verify": _verify, "path": _path}.get(args.models_command)
    if action is None:
        print("facefuse models: choose an action: list, download, verify or path (facefuse models --help)",
              file=sys.stderr)
        return 2
    try:
        return action(args)
    except (ValueError, TypeError) as e:  # an unknown model name
        print(f"facefuse models {args.models_command}: error: {e}", file=sys.stderr)
        return 2
