"""``facefuse probe FILE``: what a media file holds (streams, CFR / VFR timing, colour tags, bit
depth) and what a facefuse output of it keeps (:func:`facefuse.video.media_info.media_info`).

Exit status: 0 done; 2 a missing or unreadable file, a bad option.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "run", "format_info"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("probe", help="what a video holds and what the output keeps",
                       description="Print the streams of FILE, its timing (CFR / VFR, time base, duplicate "
                                   "timestamps), colour tags, pixel format and bit depth, and what a facefuse "
                                   "output of it keeps.")
    p.add_argument("file", metavar="FILE", help="video (or audio) file")
    p.add_argument("--codec", default="libx264", help="the encoder the output would use (default libx264)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def format_info(info: dict) -> str:
    """The human-readable report of a :func:`media_info` dict."""
    lines = [f"{info['path']} ({info['format']})"]
    for s in info["streams"]:
        lines.append(f"  stream {s['index']}: {s['type']} {s['codec']} language={s['language']} "
                     f"time_base={s['time_base']}")
    t = info.get("timing")
    if t:
        extra = (f", first pts {t['first_pts']}, time base {t['time_base']}, duplicate pts {t['duplicate_pts']}"
                 if "frames" in t else "")
        lines.append(f"  timing: {t['kind']}" + (f", {t['frames']} frames" if "frames" in t else "") + extra
                     + (f", frame durations {', '.join(f'{d * 1e3:.2f} ms' for d in t['frame_durations'])}"
                        if t.get("frame_durations") else ""))
    c = info.get("color")
    if c:
        lines.append(f"  colour: matrix {c['matrix']}, range {c['range']}, primaries {c['primaries']}, "
                     f"transfer {c['trc']}; pixel format {c['pix_fmt']} ({c['bit_depth']}-bit), "
                     f"{c['width']}x{c['height']}")
    if info.get("tags"):
        lines.append("  tags: " + ", ".join(f"{k}={v}" for k, v in info["tags"].items()))
    lines.append("the output keeps:")
    lines.extend(f"  - {k}" for k in info["keeps"])
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from .video.media_info import media_info

    try:
        info = media_info(args.file, codec=args.codec)
    except (ValueError, OSError) as e:  # VideoError is a ValueError
        print(f"facefuse probe: error: argument FILE: {str(e).split(': ', 1)[-1]}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
    else:
        print(format_info(info))
    return 0
