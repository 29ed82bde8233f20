"""``facefuse doctor``: what this installation can run (versions, backends, providers, GPU, models).

:func:`diagnose` gathers everything into a JSON-ready dict; :func:`format_report` renders it.
Each probe catches its own failure and reports why, so the doctor itself never fails.
"""
from __future__ import annotations

import importlib
import os
import platform
import shutil
import subprocess
from typing import Any, Optional

__all__ = ["diagnose", "format_report", "check_failures", "MODEL_FAMILIES"]

#: (family, module, specs dict name): the model modules whose spec dicts list the known files.
MODEL_FAMILIES = (
    ("detector", "facefuse.models.detector", "DETECTOR_SPECS"),
    ("landmarker", "facefuse.models.landmarker", "LANDMARKER_SPECS"),
    ("recognizer", "facefuse.models.recognizer", "RECOGNIZER_SPECS"),
    ("swapper", "facefuse.models.swapper", "SWAPPER_SPECS"),
    ("converter", "facefuse.models.swapper", "CONVERTER_SPECS"),
    ("enhancer", "facefuse.models.enhancer", "ENHANCER_SPECS"),
    ("occluder", "facefuse.models.masker", "OCCLUDER_SPECS"),
    ("parser", "facefuse.models.masker", "PARSER_SPECS"),
)


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".strip()


def _versions() -> dict[str, Optional[str]]:
    out: dict[str, Optional[str]] = {"python": platform.python_version()}
    for name, mod in (("facefuse", "facefuse"), ("numpy", "numpy"), ("opencv", "cv2"), ("av", "av"),
                      ("onnxruntime", "onnxruntime"), ("onnx", "onnx")):
        try:
            out[name] = str(importlib.import_module(mod).__version__)
        except Exception as e:  # noqa: BLE001 - a missing package is a finding
            out[name] = None
            out[f"{name}_error"] = _why(e)
    try:
        import av

        v = av.library_versions.get("libavcodec")
        out["ffmpeg_libavcodec"] = ".".join(str(x) for x in v) if v else None
    except Exception:  # noqa: BLE001
        pass
    return out


def _native() -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        from . import _core

        out["core"] = {"available": True, "openmp": bool(getattr(_core, "openmp", False)),
                       "threads": int(_core.max_threads())}
    except Exception as e:  # noqa: BLE001
        out["core"] = {"available": False, "reason": _why(e)}
    # The CUDA backend: facefuse.backend says whether it can run and, if not, why
    # (module not built / no driver / no device / CuPy missing).
    try:
        from .backend import cuda_available, cuda_module, cuda_status

        status = cuda_status()
        if cuda_available():
            mod = cuda_module()
            count, _, _ = mod.device_info()
            out["cuda"] = {"available": True, "status": status, "device_count": count,
                           "runtime_version": mod.runtime_version_string(), "driver_version": mod.driver_version()}
        else:
            out["cuda"] = {"available": False, "reason": status.removeprefix("unavailable: ")}
    except Exception as e:  # noqa: BLE001
        out["cuda"] = {"available": False, "reason": _why(e)}
    return out


def _ort_clash() -> Optional[str]:
    """Both the CPU and a GPU build of ONNX Runtime installed: they share one package directory,
    so whichever was installed last wins and removing either breaks the other."""
    from importlib import metadata

    builds = []
    for dist in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"):
        try:
            builds.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    if len(builds) < 2:
        return None
    return (f"{' and '.join(builds)} are both installed and overwrite each other; keep one: "
            f"pip uninstall -y onnxruntime onnxruntime-gpu, then reinstall the one you want")


def _providers() -> dict[str, Any]:
    clash = _ort_clash()
    try:
        import onnxruntime as ort

        from .inference import pick_providers

        out = {"available": list(ort.get_available_providers()), "picked": pick_providers(None),
               "device": str(ort.get_device())}
    except Exception as e:  # noqa: BLE001
        out = {"available": [], "picked": [], "error": _why(e)}
    if clash:
        out["warning"] = clash
    return out


def _gpu() -> dict[str, Any]:
    exe = shutil.which("nvidia-smi")
    out: dict[str, Any] = {"nvidia_smi": exe, "gpus": []}
    if exe is None:
        out["reason"] = "nvidia-smi not found (no NVIDIA driver on PATH)"
        return out
    try:
        r = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=15)
        if r.returncode == 0:
            out["gpus"] = [line.strip() for line in r.stdout.splitlines() if line.strip()]
        else:
            out["reason"] = (r.stderr or r.stdout).strip().splitlines()[0] if (r.stderr or r.stdout).strip() \
                else f"nvidia-smi exited with {r.returncode}"
    except Exception as e:  # noqa: BLE001
        out["reason"] = _why(e)
    return out


def _encoders() -> dict[str, Any]:
    try:
        from .video import available_encoders

        enc = available_encoders("video")
        return {"nvenc": [e for e in enc if "nvenc" in e], "h264": [e for e in enc if "264" in e]}
    except Exception as e:  # noqa: BLE001
        return {"nvenc": [], "h264": [], "error": _why(e)}


def _check_file(pool: Any, family: str, key: str, spec: Any, path: str) -> None:
    """Load ``path`` the way the pipeline does, so every check it makes runs: the signature
    by name (:func:`facefuse.inference.check_model`) and the tensors read by position."""
    from .models import FaceDetector, FaceLandmarker, FaceRecognizer, FaceSwapper
    from .models._model_checks import check_positional
    from .models.recognizer import EMBEDDING_SIZE

    if family == "detector":
        FaceDetector(pool, key)
    elif family == "landmarker" and key == "fan_68_5":
        from .models.landmarker import Landmarker68From5

        Landmarker68From5(pool)
    elif family == "landmarker":
        FaceLandmarker(pool, key)
    elif family == "recognizer":
        FaceRecognizer(pool, key, file_name=path)
    elif family == "swapper":
        FaceSwapper(pool, key, file_name=path)
    elif family == "enhancer":
        from .models import FaceEnhancer

        FaceEnhancer(pool, key, file_name=path)
    elif family in ("occluder", "parser"):
        from .models import FaceMasker

        if family == "occluder":
            FaceMasker(pool, occluder=key).load(occlusion=True)
        else:
            FaceMasker(pool, parser=key).load(occlusion=False, region=True)
    elif family == "lipsync":
        from .lipsync.model import Diff2LipDenoiser

        Diff2LipDenoiser(pool, path)
    else:  # converter: no class of its own; FaceSwapper checks it like this when it loads it
        check_positional(pool.get(path, spec=spec), spec, path, outputs=[(None, EMBEDDING_SIZE)])


def _model_row(family: str, key: str, file_name: str, models_dir: Optional[str]) -> dict[str, Any]:
    """Where the file is and its state against the ``.hash`` beside it (no network: the doctor
    reads what is here): ``status`` missing / present / hash ok / hash mismatch, ``fix`` the command."""
    from .inference.registry import by_file_name
    from .inference.stand_ins import is_stand_in_file
    from .models_cli import model_status

    row: dict[str, Any] = {"family": family, "model": key, "file": file_name, "path": None}
    entry = by_file_name(file_name)
    if entry is None:  # pragma: no cover - the registry test keeps every spec in it
        from .inference import ModelNotFoundError, resolve_model

        try:
            row["path"] = str(resolve_model(file_name, models_dir))
        except ModelNotFoundError:
            pass
        row["status"] = "present" if row["path"] else "missing"
        return row
    st = model_status(entry, models_dir, network=False)
    row.update(path=st["path"], status=st["status"], fix=st["fix"])
    if row["path"] is not None and is_stand_in_file(row["path"]):  # refused by the pipelines
        row["stand_in"] = True
    if st["hash"] is not None:
        row.update(hash=st["hash"], published=st["published"])
    return row


def _models(models_dir: Optional[str], check: bool) -> dict[str, Any]:
    from .inference import InferencePool, _search_dirs
    from .inference.registry import REGISTRY

    out: dict[str, Any] = {"searched": [str(d) for d in _search_dirs(models_dir)], "models": [], "errors": []}
    listed: set[str] = set()
    # the doctor reports what is here: it never downloads
    pool = InferencePool(models_dir=models_dir, providers="cpu", download=False,
                         allow_stand_ins=True) if check else None  # a stand-in is checked, and marked
    try:
        for family, module, attr in MODEL_FAMILIES:
            try:
                specs = getattr(importlib.import_module(module), attr)
            except Exception as e:  # noqa: BLE001 - a family not in this build
                out["errors"].append(f"{family}: {module}.{attr} unavailable ({_why(e)})")
                continue
            for key, spec in specs.items():
                row = _model_row(family, key, spec.file_name, models_dir)
                listed.add(spec.file_name)
                if check and row["path"] is not None:
                    try:
                        _check_file(pool, family, key, spec, row["path"])
                        row["check"] = "ok"
                    except Exception as e:  # noqa: BLE001
                        # the whole reason: a signature mismatch lists expected / found tensors on
                        # the lines after its first
                        row["check"] = str(e).strip() or type(e).__name__
                    pool.release(row["path"])
                out["models"].append(row)
        for entry in REGISTRY.values():  # files no model class lists (the Diff2Lip export)
            if entry.file_name not in listed:
                row = _model_row(entry.role, entry.name, entry.file_name, models_dir)
                if check and row["path"] is not None:
                    try:
                        _check_file(pool, entry.role, entry.name, None, row["path"])
                        row["check"] = "ok"
                    except Exception as e:  # noqa: BLE001
                        row["check"] = str(e).strip() or type(e).__name__
                    pool.release(row["path"])
                out["models"].append(row)
    finally:
        if pool is not None:
            pool.close()
    return out


def _usable_nvenc(encoders: dict[str, Any], gpu: dict[str, Any]) -> dict[str, Any]:
    """NVENC encoders are compiled into most FFmpeg builds; they run only with an NVIDIA GPU."""
    if encoders.get("nvenc") and not gpu["gpus"]:
        return {**encoders, "nvenc_built": encoders["nvenc"], "nvenc": []}
    return encoders


def diagnose(models_dir: Optional[str] = None, check: bool = False) -> dict[str, Any]:
    """Everything ``facefuse doctor`` reports, as a JSON-ready dict.

    Each known model file (:mod:`facefuse.inference.registry`) is listed as missing, present,
    hash ok or hash mismatch (its CRC32 against the ``.hash`` beside it), with the command that
    fixes it. ``check=True`` also loads every model file found (CPU provider) and checks its
    inputs / outputs against the expected signature.
    """
    from .doctor_jobs import job_verdicts

    gpu = _gpu()
    d = {
        "versions": _versions(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "native": _native(),
        "onnxruntime": _providers(),
        "gpu": gpu,
        "encoders": _usable_nvenc(_encoders(), gpu),
        "models": _models(models_dir, check),
    }
    d["jobs"] = job_verdicts(d, models_dir)
    return d


def format_report(d: dict[str, Any]) -> str:
    """A human-readable rendering of :func:`diagnose`'s dict."""
    lines: list[str] = []
    v = d["versions"]
    lines.append("versions")
    for k in ("facefuse", "python", "numpy", "opencv", "av", "onnxruntime", "onnx"):
        val = v.get(k)
        lines.append(f"  {k:<12} {val if val else 'not installed (' + v.get(k + '_error', '?') + ')'}")
    if v.get("ffmpeg_libavcodec"):
        lines.append(f"  {'libavcodec':<12} {v['ffmpeg_libavcodec']}")
    lines.append(f"  {'platform':<12} {d['platform']}, {d['cpu_count']} logical CPUs")
    n = d["native"]
    lines.append("native backends")
    c = n["core"]
    lines.append(f"  {'_core':<12} " + (f"OpenMP {'on' if c['openmp'] else 'off'}, {c['threads']} threads"
                                        if c["available"] else f"NOT AVAILABLE: {c['reason']}"))
    cu = n["cuda"]
    if cu["available"]:
        extra = ", ".join(f"{k}={cu[k]}" for k in ("device_count", "runtime_version", "driver_version") if k in cu)
        lines.append(f"  {'_cuda':<12} available" + (f" ({extra})" if extra else ""))
    else:
        lines.append(f"  {'_cuda':<12} not available: {cu['reason']}")
    o = d["onnxruntime"]
    lines.append("onnxruntime")
    if o.get("error"):
        lines.append(f"  error        {o['error']}")
    if o.get("warning"):
        lines.append(f"  warning      {o['warning']}")
    lines.append(f"  {'available':<12} {', '.join(o['available']) or '-'}")
    lines.append(f"  {'would use':<12} {', '.join(o['picked']) or '-'}")
    g = d["gpu"]
    lines.append("GPU")
    if g["gpus"]:
        for x in g["gpus"]:
            lines.append(f"  {'nvidia-smi':<12} {x}")
    else:
        lines.append(f"  {'nvidia-smi':<12} {g.get('reason', 'no GPU listed')}")
    e = d["encoders"]
    nvenc = ", ".join(e["nvenc"]) if e["nvenc"] else (
        "not usable without an NVIDIA GPU" if e.get("nvenc_built") else "none in this FFmpeg build")
    lines.append(f"  {'NVENC':<12} {nvenc}")
    m = d["models"]
    found = sum(r["path"] is not None for r in m["models"])
    lines.append(f"models ({found} of {len(m['models'])} known files found; searched: {', '.join(m['searched'])})")
    for r in m["models"]:
        mark = "found  " if r["path"] else "missing"
        tail = r["path"] or ""
        status = r.get("status")
        if status == "hash ok":
            tail += "  [hash ok]"
        elif status == "hash mismatch":
            tail += f"  [HASH MISMATCH: CRC32 {r['hash']}, published {r['published']}]"
        elif status == "present":
            tail += "  [no .hash beside it]"
        failed = "check" in r and r["check"] != "ok"
        if r.get("stand_in"):
            tail += "  [STAND-IN from facefuse.testing: not a real model]"
        elif "check" in r:
            tail += "  [check FAILED]" if failed else f"  [{r['check']}]"
        lines.append(f"  {mark} {r['family']:<10} {r['model']:<22} {r['file']:<32} {tail}".rstrip())
        if failed:
            lines.extend(f"      {ln}" for ln in r["check"].splitlines())
        if r.get("fix") and status in ("missing", "hash mismatch"):
            lines.append(f"      fix: {r['fix']}")
    for err in m["errors"]:
        lines.append(f"  note: {err}")
    failures = [r["model"] for r in m["models"] if r.get("check", "ok") != "ok"]
    if failures:
        lines.append(f"{len(failures)} model file(s) failed the check: {', '.join(failures)}")
    bad = [r["model"] for r in m["models"] if r.get("status") == "hash mismatch"]
    if bad:
        lines.append(f"{len(bad)} model file(s) do not match their published hash: {', '.join(bad)}")
    if "jobs" in d:
        from .doctor_jobs import format_verdicts

        lines.extend(format_verdicts(d["jobs"]))
    return "\n".join(lines)


def check_failures(d: dict[str, Any]) -> list[str]:
    """The models of :func:`diagnose`'s dict whose file was found but does not match the hash
    beside it, or (``check=True``) failed to load."""
    return [r["model"] for r in d["models"]["models"]
            if r.get("check", "ok") != "ok" or r.get("status") == "hash mismatch"]
