"""The one file tailer behind the progress display, the runner's live echo and the deploy server's watcher."""

from __future__ import annotations

import io

from swiftkit.runs.progress import LogFollower
from swiftkit.swift.runner import Echo
from swiftkit.tail import Tailer


def test_each_complete_line_once_and_a_partial_line_waits_for_its_end(tmp_path):
    log = tmp_path / "log"
    log.write_bytes(b"one\ntw")
    lines: list[str] = []
    tailer = Tailer(log, lines.append)
    tailer.read()
    assert lines == ["one\n"]
    with open(log, "ab") as handle:
        handle.write(b"o\nthree\xff\n")
    tailer.read()
    tailer.read()
    assert lines == ["one\n", "two\n", "three\ufffd\n"]


def test_carriage_returns_end_lines_only_when_asked_and_stop_hands_on_the_rest(tmp_path):
    log = tmp_path / "log"
    log.write_bytes(b"10%\r50%\rdone\nlast")
    plain: list[str] = []
    bars: list[str] = []
    Tailer(log, plain.append).read()
    tailer = Tailer(log, bars.append, cr=True)
    tailer.stop()  # never started: reads once, then the unfinished last line
    assert plain == ["10%\r50%\rdone\n"]
    assert bars == ["10%\r", "50%\r", "done\n", "last"]


def test_from_end_skips_what_is_there(tmp_path):
    log = tmp_path / "log"
    log.write_text("old\n")
    lines: list[str] = []
    tailer = Tailer(log, lines.append, from_end=True)
    with open(log, "a") as handle:
        handle.write("new\n")
    tailer.read()
    assert lines == ["new\n"]


def test_its_three_users_see_the_same_lines(tmp_path):
    log = tmp_path / "logging.jsonl"
    log.write_text('{"global_step/max_steps": "1/4", "loss": 2.5}\n{"global_step/max_steps": "2/4", "lo')
    follower = LogFollower(log)
    assert [e.step for e in follower.poll()] == [1]
    with open(log, "a") as handle:
        handle.write('ss": 2.0}\n')
    assert [(e.step, e.loss) for e in follower.poll()] == [(2, 2.0)]
    out = io.StringIO()
    Echo(log, out, poll=0.01, from_start=True).stop()
    assert out.getvalue() == log.read_text()
