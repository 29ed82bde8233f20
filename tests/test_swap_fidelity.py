"""A no-face clip through ``facefuse swap`` keeps what the target had (issue 18): frame count,
every timestamp (VFR), colour tags, bit depth, every audio track sample-exact, the container's
tags, and its pixels within encoder noise."""
from __future__ import annotations

import json
from fractions import Fraction as F

import numpy as np
import pytest

av = pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from facefuse.cli import main  # noqa: E402
from fidelity_clips import audio_packets, decoded, frame_times, make_clip, raw_frames  # noqa: E402
from pipeline_clips import FAST, build_models, source_face  # noqa: E402

TAGS = {"creation_time": "2024-05-01T10:00:00.000000Z", "title": "holiday"}


def _video(path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0].codec_context
        return {"pix_fmt": v.pix_fmt, "matrix": int(v.colorspace), "range": int(v.color_range),
                "primaries": int(v.color_primaries), "trc": int(v.color_trc),
                "tags": {k: c.metadata.get(k) for k in TAGS}}


def test_no_face_clip_through_swap_keeps_everything(tmp_path, capsys) -> None:
    models, face = build_models(tmp_path / "models"), source_face(tmp_path / "face.png")
    pts = [sum(3000 if k % 2 == 0 else 6000 for k in range(i)) for i in range(24)]  # VFR, 1/30 s and 1/15 s
    src = make_clip(tmp_path / "phone.mp4", pts, F(1, 90000), pix_fmt="yuv420p10le", matrix=1, range_=1,
                    primaries=1, trc=1, options={"crf": "0", "preset": "ultrafast"},
                    audio=[("aac", "eng", 440), ("aac", "deu", 660)], tags=TAGS)
    out = tmp_path / "o.mp4"
    rc = main(["swap", "-s", str(face), "-t", src, "-o", str(out), "--models-dir", str(models), "--faces", "all",
               "--crf", "0", "--json", "--allow-no-change", *FAST])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    doc = json.loads(cap.out)
    assert doc["frames"] == 24 and doc["faces_swapped"] == 0
    # the only warning is that no face was swapped (issue 20): none on frames, times or tracks
    assert len(doc["warnings"]) == 1 and "no face was swapped" in doc["warnings"][0], doc["warnings"]
    t_in, t_out = frame_times(src), frame_times(out)
    assert t_out == t_in  # every pts, exactly
    assert _video(out) == _video(src) == {"pix_fmt": "yuv420p10le", "matrix": 1, "range": 1, "primaries": 1,
                                          "trc": 1, "tags": TAGS}
    a_in, a_out = audio_packets(src), audio_packets(out)
    assert [(lang, codec) for lang, codec, _ in a_out] == [("eng", "aac"), ("deu", "aac")]
    assert all(x[2] and x[2] == y[2] for x, y in zip(a_in, a_out))  # sample-exact: the same packets
    fin, fout = decoded(src), decoded(out)
    assert len(fout) == 24
    # no face changed nothing: every frame is encoded from its decoded 10-bit samples (not from
    # 8-bit BGR), so what differs is encoder noise only (x264 --crf 0 is near-lossless at 10 bits)
    r_in, r_out = raw_frames(src), raw_frames(out)
    assert r_out[0].dtype == np.uint16
    assert max(float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(r_in, r_out)) < 0.5
    assert max(float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(fin, fout)) < 0.5
