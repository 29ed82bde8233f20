"""How the commands print the API's errors: the function name dropped, arguments as flags."""
from __future__ import annotations

import argparse

import pytest

from facefuse._cli_errors import error_text, flag_table, name_flags, warning_text
from facefuse.cli import name_flags as cli_name_flags

ARGS = argparse.Namespace(command="swap", func=None, detector_size=640, face_index=0, reference_image=None)


def test_flag_table() -> None:
    assert flag_table(ARGS) == {"detector_size": "--detector-size", "face_index": "--face-index",
                                "reference_image": "--reference-image"}  # not command / func
    assert flag_table(ARGS, {"reference": "--reference-image"})["reference"] == "--reference-image"


def test_name_flags_maps_only_known_arguments() -> None:
    msg = "argument 'detector_size' must be a multiple of 32; argument 'pool' is not a flag"
    assert name_flags(msg, ARGS) == "argument --detector-size must be a multiple of 32; argument 'pool' is not a flag"
    assert cli_name_flags is name_flags  # facefuse.cli keeps exporting it


def test_error_text_drops_a_leading_api_name_only() -> None:
    e = ValueError("swap_video: argument 'face_index' is 3 but the image has 1 face(s)")
    assert error_text(e, ARGS, api=("swap_video",)) == "argument --face-index is 3 but the image has 1 face(s)"
    inner = FileNotFoundError("VideoReader: cannot open 'x': swap_video: nested")
    assert error_text(inner, ARGS, api=("swap_video",)) == "VideoReader: cannot open 'x': swap_video: nested"
    e = FileNotFoundError("swap_video: argument 'reference': no such file: 'r.png'")
    assert (error_text(e, ARGS, api=("swap_video",), renames={"reference": "--reference-image"})
            == "argument --reference-image: no such file: 'r.png'")
    two = ValueError("lipsync_video: export-diff2lip: x")  # each name in turn, as the lipsync CLI did
    assert error_text(two, ARGS, api=("lipsync_video", "export-diff2lip")) == "x"


def test_warning_text() -> None:
    assert warning_text("VideoWriter: the size became 322 x 242") == "the size became 322 x 242"
    assert warning_text("no source named") == "no source named"


@pytest.mark.parametrize("argv,usage", [
    (["swap", "-s", "a.png", "-t", "b.mp4", "-o", "c.mp4", "--bogus"], "usage: facefuse swap"),
    (["lipsync", "-v", "a.mp4", "-a", "a.wav", "-o", "o.mp4", "--no-such-flag"], "usage: facefuse lipsync"),
    (["models", "list", "--nope"], "usage: facefuse models list"),
])
def test_unknown_flag_prints_the_subcommands_usage(argv, usage, capsys) -> None:
    from facefuse.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith(usage) and "unrecognized arguments: " + argv[-1] in err
