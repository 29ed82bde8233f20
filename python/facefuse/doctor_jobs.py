"""``facefuse doctor``'s verdict per job: can ``facefuse swap`` / ``facefuse lipsync`` run with
their default models here, and if not, what is missing and the command that fixes it."""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["job_verdicts", "format_verdicts"]


def _by_file(file_name: str) -> str:
    from .inference.registry import by_file_name

    return by_file_name(file_name).name


def _download_fix(names: list[str], job: str, models_dir: Optional[str], whole_set: bool) -> str:
    md = f" --models-dir {models_dir}" if models_dir else ""
    return f"facefuse models download --set {job}{md}" if whole_set else \
        f"facefuse models download {' '.join(names)}{md}"


def job_verdicts(d: dict[str, Any], models_dir: Optional[str] = None) -> dict[str, dict[str, Any]]:
    """``{job: {"ready": bool, "problems": [...], "fixes": [...]}}`` for each job of
    :data:`facefuse.inference.registry.MODEL_SETS`, from :func:`facefuse.doctor.diagnose`'s dict."""
    from .inference.registry import MODEL_SETS, REGISTRY

    rows = {r["model"]: r for r in d["models"]["models"]}
    base: list[str] = []
    if not d["native"]["core"]["available"]:
        base.append(f"the native core does not load ({d['native']['core'].get('reason', '?')})")
    if d["onnxruntime"].get("error"):
        base.append(f"onnxruntime does not load ({d['onnxruntime']['error']})")
    out: dict[str, dict[str, Any]] = {}
    for job, names in MODEL_SETS.items():
        problems, fixes = list(base), []
        if base:
            fixes.append('pip install -e ".[dev]" (or reinstall facefuse)')
        fetch: list[str] = []  # downloadable files that are missing or not the real one
        missing: list[str] = []
        for name in names:
            r = rows.get(name) or {"file": REGISTRY[name].file_name, "path": None, "status": "missing"}
            entry = REGISTRY[name]
            if r.get("stand_in"):
                problems.append(f"{r['file']} is a facefuse.testing stand-in, not the real model ({r['path']})")
                fetch.append(name) if entry.downloadable else fixes.append(entry.how_to_get)
            elif r["path"] is None:
                missing.append(r["file"])
                fetch.append(name) if entry.downloadable else fixes.append(entry.how_to_get)
            elif r.get("status") == "hash mismatch" or r.get("check", "ok") != "ok":
                problems.append(f"{r['file']} " + ("does not match its published hash" if r.get("status") ==
                                                   "hash mismatch" else "failed to load (see above)"))
                if r.get("fix"):
                    fixes.append(r["fix"])
        if missing:
            online = [f for f in missing if REGISTRY[_by_file(f)].downloadable]
            problems.insert(len(base), f"missing {', '.join(missing)}" + (
                f" ({'all' if len(online) == len(missing) else ', '.join(online)} downloaded by the first run "
                f"when online)" if online else ""))
        if fetch:
            whole = len(fetch) == sum(REGISTRY[n].downloadable for n in names)
            force = any(rows.get(n, {}).get("stand_in") for n in fetch)
            fixes.insert(0, _download_fix(fetch, job, models_dir, whole) + (" --force" if force else ""))
        out[job] = {"ready": not problems, "files": [REGISTRY[n].file_name for n in names],
                    "problems": problems, "fixes": list(dict.fromkeys(fixes))}
    return out


def format_verdicts(jobs: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["verdict"]
    for job, v in jobs.items():
        if v["ready"]:
            lines.append(f"  {job:<12} ready ({', '.join(v['files'])})")
            continue
        lines.append(f"  {job:<12} NOT READY: {'; '.join(v['problems'])}")
        for fix in v["fixes"]:
            lines.append(f"  {'':<12} fix: {fix}")
    return lines
