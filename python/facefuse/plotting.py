"""Figures of facefuse's reports, drawn with matplotlib's Agg canvas (no pyplot, no GUI).

Kept out of :mod:`facefuse.ops` (the array API computes; which file format a report takes is
not its business) and imported only by the methods that draw, so matplotlib loads on first use.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np


def plot_quality(path: Any, series: dict, jitter: Sequence[int], flag_series: Optional[str], cap_db: float,
                 title: str) -> None:
    """Write :meth:`facefuse.QualityMonitor.plot`'s PNG to ``path``: tPSNR (output/source,
    whole/roi) and dtPSNR over frame index, flagged transitions marked, and landmark jitter
    when there is some. ``series``: the monitor's :meth:`~facefuse.QualityMonitor.series`;
    ``jitter``: the flagged transitions, found in series ``flag_series``; ``cap_db``: the tPSNR
    ceiling the values were clipped to."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    idx = np.asarray(series["index"])

    def arr(k: str) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in series[k]], dtype=np.float64)

    has = {k: any(v is not None for v in values) for k, values in series.items()}
    n_ax = 2 + int(has["nmj"])
    fig = Figure(figsize=(11, 3.2 * n_ax), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_ax, 1, sharex=True)
    ax = axes[0]
    styles = {
        "tpsnr": ("output", "C0", "-"),
        "tpsnr_source": ("source", "C1", "-"),
        "tpsnr_roi": ("output, roi", "C2", "--"),
        "tpsnr_source_roi": ("source, roi", "C3", "--"),
    }
    for k, (label, color, ls) in styles.items():
        if has[k]:
            ax.plot(idx, arr(k), ls, color=color, label=label, lw=1.2)
    ax.set_ylabel("tPSNR (dB)")
    ax.set_title(f"{title}: tPSNR (capped at {cap_db:g} dB)")
    ax = axes[1]
    for k, (label, color, ls) in {"dtpsnr": ("whole frame", "C0", "-"), "dtpsnr_roi": ("roi", "C2", "--")}.items():
        if has[k]:
            ax.plot(idx, arr(k), ls, color=color, label=label, lw=1.2)
    thr = arr("threshold")
    if np.isfinite(thr).any():
        ax.plot(idx, thr, ":", color="0.4", lw=1, label="median - margin")
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set_ylabel("dtPSNR (dB)")
    ax.set_title(f"dtPSNR = tPSNR(output) - tPSNR(source); {len(jitter)} flagged")
    if jitter and flag_series is not None:
        y = arr(flag_series)[jitter]
        target = axes[1] if flag_series.startswith("d") else axes[0]
        target.plot(jitter, y, "x", color="red", ms=9, mew=2, label=f"jitter ({flag_series})")
        for ax_ in axes:
            for k in jitter:
                ax_.axvline(k, color="red", alpha=0.15, lw=2)
    if has["nmj"]:
        axes[2].plot(idx, arr("nmj"), color="C4", lw=1.2, label="landmark jitter")
        axes[2].set_ylabel("NMJ")
    axes[-1].set_xlabel("frame index (transition t-1 -> t)")
    for ax_ in axes:
        if ax_.get_legend_handles_labels()[0]:
            ax_.legend(loc="best", fontsize=8)
        ax_.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
