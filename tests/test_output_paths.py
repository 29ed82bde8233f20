"""Every path a command writes differs from every path it reads and from the others
(resolved: symlinks, symlinked folders and hard links included), checked before any work:
the shared helper in facefuse._files, swap_video / lipsync_video and their commands."""
from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import facefuse as ff  # noqa: E402
from facefuse._files import check_distinct, same_file, sweep_temps  # noqa: E402
from facefuse.cli import main  # noqa: E402
from pipeline_clips import FAST, build_models, clip_frame, make_clip, source_face  # noqa: E402

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("paths")
    return {"models": build_models(d / "models"), "clip": make_clip(d / "clip.mp4", seconds=0.4)}


@pytest.fixture
def inputs(tmp_path):
    """Fresh inputs in tmp_path/in (face.png, photo.png) and a symlink 'link' -> in."""
    import cv2

    d = tmp_path / "in"
    d.mkdir()
    face = source_face(d / "face.png")
    cv2.imwrite(str(d / "photo.png"), clip_frame(3))
    os.symlink(d, tmp_path / "link")
    return d


def _snapshot(directory) -> dict:
    return {n: (directory / n).read_bytes() for n in sorted(os.listdir(directory))}


# ------------------------------------------------------------------------ the helper

def test_same_file_sees_symlinks_folders_and_hard_links(tmp_path) -> None:
    (tmp_path / "d").mkdir()
    a = tmp_path / "d" / "a.mp4"
    a.write_bytes(b"x")
    os.symlink(tmp_path / "d", tmp_path / "ln")
    os.symlink(a, tmp_path / "a_link.mp4")
    os.link(a, tmp_path / "a_hard.mp4")
    assert same_file(a, tmp_path / "ln" / "a.mp4")            # a symlinked folder
    assert same_file(a, tmp_path / "a_link.mp4")              # a symlink to the file
    assert same_file(a, tmp_path / "a_hard.mp4")              # a hard link
    assert same_file(a, tmp_path / "d" / ".." / "d" / "a.mp4")
    assert same_file(tmp_path / "ln" / "new.mp4", tmp_path / "d" / "new.mp4")  # neither exists yet
    assert not same_file(a, tmp_path / "d" / "b.mp4")


def test_check_distinct_names_both_arguments(tmp_path) -> None:
    (tmp_path / "d").mkdir()
    src = tmp_path / "d" / "face.png"
    src.write_bytes(b"x")
    os.symlink(tmp_path / "d", tmp_path / "ln")
    with pytest.raises(ValueError, match=r"^f: argument 'output' .* and argument 'source' .* are the same file"):
        check_distinct("f", reads={"source": src}, writes={"output": tmp_path / "ln" / "face.png"})
    with pytest.raises(ValueError, match=r"argument 'quality_plot' .* and argument 'quality_report' .* same file"):
        check_distinct("f", reads={"source": src}, writes={"quality_report": tmp_path / "q.json",
                                                            "quality_plot": tmp_path / "ln" / ".." / "q.json"})
    # None and arrays are not paths: skipped
    check_distinct("f", reads={"source": src, "reference": None}, writes={"output": tmp_path / "o.mp4",
                                                                          "quality_report": None})


def test_sweep_temps_spares_what_a_live_process_holds(tmp_path) -> None:
    out = tmp_path / "o.mp4"
    stale = tmp_path / ".o.mp4.k2j4h1_z.tmp.mp4"
    held = tmp_path / ".o.mp4.abcdefgh.tmp.mp4"
    lookalikes = [".o.mp4.abc.tmp.mp4", ".o.mp4.abcdefgh.tmp.mkv", ".x.mp4.abcdefgh.tmp.mp4", "o.mp4.abcdefgh.tmp.mp4"]
    for p in [stale, held] + [tmp_path / n for n in lookalikes]:
        p.write_bytes(b"x")
    with open(held, "rb"):
        assert sweep_temps(out) == [str(stale)]
    assert sorted(os.listdir(tmp_path)) == sorted([held.name] + lookalikes)
    assert sweep_temps(out) == [str(held)]  # closed now


# ------------------------------------------------------------------------ swap_video / facefuse swap

@pytest.mark.parametrize("case", ["output_is_source", "output_hard_link_of_source", "report_is_target",
                                  "plot_is_output", "report_is_plot", "report_is_source_via_folder_link"])
def test_swap_command_refuses_to_overwrite_its_inputs(work, inputs, tmp_path, capsys, case) -> None:
    face, photo, link = inputs / "face.png", inputs / "photo.png", tmp_path / "link"
    out = tmp_path / "o.png"
    extra: list = []
    if case == "output_is_source":
        out = face
    elif case == "output_hard_link_of_source":
        os.link(face, tmp_path / "face_hard.png")
        out = tmp_path / "face_hard.png"
    elif case == "report_is_target":
        extra = ["--quality-report", str(photo)]
    elif case == "plot_is_output":
        extra = ["--quality-plot", str(out)]
    elif case == "report_is_plot":
        extra = ["--quality-report", str(tmp_path / "q.out"), "--quality-plot", str(link / ".." / "q.out")]
    else:
        extra = ["--quality-report", str(link / "face.png")]
    before = _snapshot(inputs)
    names = sorted(os.listdir(tmp_path))
    rc = main(["swap", "-s", str(face), "-t", str(photo), "-o", str(out), "--models-dir", str(work["models"]),
               "--faces", "all", *FAST, *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("facefuse swap: error: argument --") and "are the same file" in err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(inputs) == before
    assert sorted(os.listdir(tmp_path)) == names


def test_swap_command_refuses_report_over_the_video_target(work, tmp_path, capsys) -> None:
    target = tmp_path / "t.mp4"
    shutil.copy(work["clip"], target)
    data = target.read_bytes()
    rc = main(["swap", "-s", str(source_face(tmp_path / "f.png")), "-t", str(target), "-o", str(tmp_path / "o.mp4"),
               "--models-dir", str(work["models"]), "--quality-plot", str(target), *FAST])
    err = capsys.readouterr().err
    assert rc == 2 and "argument --quality-plot" in err and "argument --target" in err
    assert target.read_bytes() == data and not (tmp_path / "o.mp4").exists()


def test_swap_video_api_checks_every_path_before_any_work(inputs, tmp_path) -> None:
    face, photo = inputs / "face.png", inputs / "photo.png"
    empty = tmp_path / "no_models"
    empty.mkdir()
    # models_dir holds no model: the path check comes first, before any model loads
    with pytest.raises(ValueError, match="'output'.*'source'"):
        ff.swap_video(face, photo, tmp_path / "link" / "face.png", models_dir=empty, progress=False)
    ref = source_face(tmp_path / "ref.png")
    with pytest.raises(ValueError, match="'quality_report'.*'reference'"):
        ff.swap_video(face, photo, tmp_path / "o.png", reference=ref, quality_report=tmp_path / "in" / ".." / "ref.png",
                      models_dir=empty, progress=False)
    with pytest.raises(ValueError, match="'quality_plot'.*'output'"):
        ff.swap_video(face, photo, tmp_path / "o.png", quality_plot=tmp_path / "o.png", models_dir=empty,
                      progress=False)


# ------------------------------------------------------------------------ lipsync_video / facefuse lipsync

def test_lipsync_refuses_to_overwrite_its_inputs(tmp_path, capsys) -> None:
    from facefuse.testing.media import synth_speech, write_audio, write_clip

    video, audio = tmp_path / "v.mp4", tmp_path / "a.wav"
    write_clip(video, 0.4)
    write_audio(audio, synth_speech(0.4), 16000)
    os.link(audio, tmp_path / "a_hard.wav")
    before = _snapshot(tmp_path)
    for kw, match in ((dict(quality_report=audio), "'quality_report'.*'audio'"),
                      (dict(quality_plot=tmp_path / "a_hard.wav"), "'quality_plot'.*'audio'"),
                      (dict(quality_report=tmp_path / "q", quality_plot=tmp_path / "q"), "'quality_plot'.*'quality_report'"),
                      (dict(model=tmp_path / "o.mp4"), "'output'.*'model'")):
        with pytest.raises(ValueError, match=match):
            ff.lipsync_video(video, audio, tmp_path / "o.mp4", models_dir=tmp_path / "none", **kw)
    rc = main(["lipsync", "-v", str(video), "-a", str(audio), "-o", str(tmp_path / "o.mp4"),
               "--models-dir", str(tmp_path), "--quality-report", str(audio), "--no-progress"])  # a dir that exists: no warning
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("facefuse lipsync: error: argument --quality-report") and "--audio" in err
    assert _snapshot(tmp_path) == before


def test_export_diff2lip_refuses_to_overwrite_the_checkpoint(tmp_path, capsys) -> None:
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"weights")
    os.symlink(tmp_path, tmp_path / "ln")
    rc = main(["export-diff2lip", "--checkpoint", str(ckpt), "--source", str(tmp_path), "-o", str(tmp_path / "ln" / "model.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and "argument --output" in err and "argument --checkpoint" in err and "are the same file" in err
    assert ckpt.read_bytes() == b"weights" and sorted(os.listdir(tmp_path)) == ["ln", "model.pt"]


def test_the_claims_can_be_read_by_a_signal_handler_in_the_middle_of_an_update() -> None:
    """A second Ctrl-C runs its handler in the main thread, possibly while that thread is
    inside claim_outputs' bookkeeping: reading the claims there must not deadlock."""
    import threading

    from facefuse import _files, _signals

    seen: list = []

    def handler_inside_update() -> None:
        with _files._claims_lock, _signals._emergency_lock:
            seen.append(_files.claimed_outputs())
            _signals.unregister_emergency(print)

    t = threading.Thread(target=handler_inside_update, daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive() and seen == [[]]
