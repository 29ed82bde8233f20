"""The streaming engine on its own (pipeline/engine.py): frame processors with typed plans,
batching modes, warm-up, side inputs and StreamCut, failures in each stage; and the batch
kinds that name the engine's processors."""
from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np
import pytest

pytest.importorskip("av")

from facefuse.pipeline import EncodeSettings, FramePlan, FrameProcessor, StreamCut, run_stream  # noqa: E402
from facefuse.testing.media import write_clip  # noqa: E402
from facefuse.video import VideoReader  # noqa: E402


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("engine") / "c.mp4"
    assert write_clip(path, 1.2, size=(96, 64), square=24) == 30
    return path


@dataclass
class _Plan(FramePlan):
    side: Optional[int] = None
    value: Optional[int] = None


class _Inverter(FrameProcessor):
    """Inverts each frame; records what each stage saw and in which thread."""

    def __init__(self, batch_size=1, wait=False, warm=False, cut_at=None, fail_in=None, sleep=0.0):
        self.batch_size, self.wait_for_batch, self.model_warmup = batch_size, wait, warm
        self.cut_at, self.fail_in, self.sleep = cut_at, fail_in, sleep
        self.planned: List[int] = []
        self.batches: List[List[int]] = []
        self.finished: List[int] = []
        self.threads: set = set()

    def side_input(self, index, timestamp):
        if self.cut_at is not None and index >= self.cut_at:
            raise StreamCut("no more side input")
        return index * 10

    def plan(self, image, index, timestamp, side):
        if self.fail_in == "plan" and index == 5:
            raise RuntimeError("plan exploded")
        self.planned.append(index)
        self.threads.add(("plan", threading.current_thread().name))
        return _Plan(index=index, timestamp=timestamp, image=image, side=side)

    def model(self, plans: List[Any]) -> None:
        if self.fail_in == "model" and any(p.index >= 7 for p in plans):
            raise RuntimeError("model exploded")
        if self.sleep:
            import time
            time.sleep(self.sleep)
        self.batches.append([p.index for p in plans])
        self.threads.add(("model", threading.current_thread().name))
        for p in plans:
            assert p.side == p.index * 10  # the side input reached the plan
            p.value = 255

    def finish(self, plan):
        self.finished.append(plan.index)
        return (plan.value - plan.image).astype(np.uint8)


def _frames(path):
    with VideoReader(path) as r:
        return [f.image for f in r]


def test_a_processor_runs_in_two_threads_and_writes_every_frame(clip, tmp_path):
    proc = _Inverter()
    out = tmp_path / "o.mp4"
    seen = []
    res = run_stream(VideoReader(clip), proc, EncodeSettings(str(out), crf=0, preset="ultrafast", pix_fmt="yuv444p"),
                     on_progress=lambda d, t: seen.append((d, t)), total=30)
    assert res.frames == 30 and res.frames_read == 30 and not res.cut
    assert proc.planned == list(range(30)) and proc.finished == list(range(30))
    assert {t for s, t in proc.threads if s == "plan"} == {"facefuse-prepare"}
    assert {t for s, t in proc.threads if s == "model"} == {"facefuse-model"}
    assert seen[-1] == (30, 30)
    src, got = _frames(clip), _frames(out)
    assert len(got) == 30
    # inverted (crf 0 in 4:4:4: lossless but for the BGR <-> YUV rounding)
    assert max(int(np.abs((255 - a.astype(int)) - b.astype(int)).max()) for a, b in zip(src, got)) <= 3


def test_full_batches_when_the_processor_waits_and_shrinks(clip, tmp_path):
    proc = _Inverter(batch_size=4, wait=True)
    res = run_stream(VideoReader(clip), proc, EncodeSettings(str(tmp_path / "o.mp4"), preset="ultrafast"))
    assert res.frames == 30
    assert [len(b) for b in proc.batches] == [4] * 7 + [2]  # full batches, the rest at the end
    assert sum(proc.batches, []) == list(range(30))

    class Shrinking(_Inverter):
        def model(self, plans):
            super().model(plans)
            self.batch_size = 2  # read again before the next batch

    proc = Shrinking(batch_size=8, wait=True)
    run_stream(VideoReader(clip), proc, EncodeSettings(str(tmp_path / "s.mp4"), preset="ultrafast"))
    assert [len(b) for b in proc.batches][:3] == [8, 2, 2]


def test_greedy_batches_take_what_is_planned(clip, tmp_path):
    proc = _Inverter(batch_size=4, sleep=0.02)  # a slow model: plans queue up meanwhile
    run_stream(VideoReader(clip), proc, EncodeSettings(str(tmp_path / "o.mp4"), preset="ultrafast"))
    sizes = [len(b) for b in proc.batches]
    assert max(sizes) == 4 and sum(sizes) == 30


@pytest.mark.parametrize("warm", [False, True])
def test_range_and_warmup(clip, tmp_path, warm):
    proc = _Inverter(warm=warm)
    out = tmp_path / "r.mp4"
    res = run_stream(VideoReader(clip, start_frame=6), proc, EncodeSettings(str(out), preset="ultrafast"),
                     start_frame=10, stop_frame=20)
    assert res.frames == 10 and len(_frames(out)) == 10
    assert proc.planned == list(range(6, 20))  # warm-up frames are planned (their state counts)
    assert sum(proc.batches, []) == (list(range(6, 20)) if warm else list(range(10, 20)))


def test_a_stream_cut_writes_the_frames_before(clip, tmp_path):
    proc = _Inverter(cut_at=12)
    res = run_stream(VideoReader(clip), proc, EncodeSettings(str(tmp_path / "c.mp4"), preset="ultrafast"))
    assert res.cut and res.cut_reason == "no more side input"
    assert res.frames == 12 and res.frames_read == 12


def test_no_frame_written_makes_no_file(clip, tmp_path):
    out = tmp_path / "none.mp4"
    res = run_stream(VideoReader(clip), _Inverter(cut_at=0), EncodeSettings(str(out), preset="ultrafast"))
    assert res.frames == 0 and res.cut and not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stage", ["plan", "model"])
def test_a_failing_stage_stops_the_others_and_leaves_nothing(clip, tmp_path, stage):
    out = tmp_path / "f.mp4"
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(RuntimeError, match=f"{stage} exploded"):
        run_stream(VideoReader(clip), _Inverter(fail_in=stage), EncodeSettings(str(out), preset="ultrafast"),
                   queue_size=2)
    assert list(tmp_path.iterdir()) == []
    left = {t.name for t in threading.enumerate()} - before
    assert not {"facefuse-prepare", "facefuse-model"} & left


def test_quality_monitor_gets_written_frames_with_their_plans(clip, tmp_path):
    import facefuse as ff

    class WithRoi(_Inverter):
        def plan(self, image, index, timestamp, side):
            p = super().plan(image, index, timestamp, side)
            p.roi = (10.0, 10.0, 20.0, 20.0)
            return p

    mon = ff.QualityMonitor()
    run_stream(VideoReader(clip, start_frame=2), WithRoi(), EncodeSettings(str(tmp_path / "q.mp4"), preset="ultrafast"),
               start_frame=5, monitor=mon)
    assert mon.count == 25 and mon.summary()["count"] == 25  # written frames only, not the warm-up


def test_batch_kinds_name_engine_processors():
    from facefuse.batch.kinds import KINDS, RANGE_ARGS
    from facefuse.pipeline.checks import RANGE_ARGS as ENGINE_RANGE

    assert RANGE_ARGS == ENGINE_RANGE
    for kind in KINDS.values():
        mod, _, cls = kind.processor.partition(":")
        assert issubclass(getattr(importlib.import_module(mod), cls), FrameProcessor), kind.name
        assert kind.supports_chunks()
        names, _ = kind.parameters()
        assert set(RANGE_ARGS) <= names  # the entry point takes the engine's range
