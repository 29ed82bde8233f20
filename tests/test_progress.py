"""facefuse.progress: the shared line drawing, the batch status line, the pipeline re-export."""
from __future__ import annotations

import io

import facefuse.pipeline.progress as pipeline_progress
from facefuse import progress
from facefuse.progress import CLEAR_LINE, StatusLine, Throttle, is_terminal, write_line


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_pipeline_progress_is_the_shared_module() -> None:
    assert pipeline_progress.ProgressBar is progress.ProgressBar
    assert pipeline_progress.format_duration is progress.format_duration


def test_terminal_detection_and_write_line() -> None:
    assert is_terminal(_Tty()) and not is_terminal(io.StringIO()) and not is_terminal(None)
    closed = io.StringIO()
    closed.close()
    assert not is_terminal(closed)  # ValueError inside: no terminal
    buf = io.StringIO()
    write_line(buf, "a", in_place=False)
    write_line(buf, "b", in_place=True)
    assert buf.getvalue() == "a\n" + CLEAR_LINE + "b"


def test_throttle() -> None:
    t = Throttle(0.5)
    assert t.due(0.0)
    t.mark(0.0)
    assert not t.due(0.4) and t.due(0.5)


def test_status_line_on_a_terminal() -> None:
    tty = _Tty()
    s = StatusLine(tty, prefix="[batch] ", min_interval=3600.0, max_width=10)
    s.status("0123456789abcdef")
    s.status("throttled away")
    s.status("forced", force=True)
    s.event("job done")  # erases the status line first
    s.close()  # nothing shown: nothing to erase
    assert tty.getvalue() == (CLEAR_LINE + "0123456789" + CLEAR_LINE + "forced" + CLEAR_LINE
                              + "[batch] job done\n")
    s.status("again", force=True)
    s.close()
    assert tty.getvalue().endswith(CLEAR_LINE + "again" + CLEAR_LINE)


def test_status_line_off_a_terminal_and_quiet() -> None:
    log = io.StringIO()
    s = StatusLine(log, prefix="[batch] ")
    s.status("not in a log", force=True)
    s.event("started")
    s.close()
    assert log.getvalue() == "[batch] started\n"
    quiet = StatusLine(None)
    quiet.status("x", force=True)
    quiet.event("y")
    quiet.close()  # no stream: nothing to write, nothing raised
