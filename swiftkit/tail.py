"""One file tailer: follows a growing file and hands each complete line to a callback.

Used by the progress display (``runs.progress.LogFollower``: ms-swift's logging.jsonl), the runner's live copy of a
log (``swift.runner.Echo``) and the deploy server's startup watcher (``serve.server``). A partly written last line
waits for its end; :meth:`Tailer.stop` hands it on as it is, since nothing more will come.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Optional

_LINES = re.compile(rb"[^\n]*\n")
_LINES_CR = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)")  # tqdm bars end in \r: each redraw is a line


class Tailer:
    """``on_line(text)`` gets each complete line with its end (``\\n``; also ``\\r`` with ``cr``), decoded as UTF-8
    (bad bytes replaced). ``read()`` reads once (for callers that poll); ``start()`` reads every ``poll`` seconds
    on a thread until ``stop()``. ``from_end`` skips what the file holds already."""

    def __init__(
        self,
        path: Path,
        on_line: Callable[[str], None],
        *,
        poll: float = 0.2,
        cr: bool = False,
        from_end: bool = False,
    ) -> None:
        self.path = Path(path)
        self.on_line = on_line
        self.poll = poll
        self._pattern = _LINES_CR if cr else _LINES
        self.offset = self.path.stat().st_size if from_end and self.path.exists() else 0
        self._partial = b""
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def read(self) -> None:
        """Read what was appended since the last read; hand on each line it completes."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return
        self.offset += len(data)
        data = self._partial + data
        end = 0
        for match in self._pattern.finditer(data):
            end = match.end()
            self.on_line(match.group().decode("utf-8", errors="replace"))
        self._partial = data[end:]

    def start(self) -> Tailer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self.read()

    def stop(self) -> None:
        """Stop the thread, read the rest, and hand on an unfinished last line too."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.read()
        if self._partial:
            rest, self._partial = self._partial, b""
            self.on_line(rest.decode("utf-8", errors="replace"))
