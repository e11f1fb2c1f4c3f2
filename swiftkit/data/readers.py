"""Streaming readers for dataset files: one record at a time, with its 1-based position.

``.jsonl``: one JSON value per line (blank lines skipped); the position is the line number.
``.json``: a top-level array; records are decoded one by one from a buffered stream, so memory stays flat.
Problems (bad UTF-8, malformed JSON, wrong top-level type) come back as :class:`ReadError` items
instead of exceptions, so a validator can report them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

from swiftkit.fsutil import open_regular

_fast_loads: Optional[Callable[[str | bytes], Any]]
try:  # a fast parser for the common case; the standard library explains failures
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover
    _fast_loads = None

CHUNK = 1 << 20
LOOKAHEAD = 256
MAX_RECORD_CHARS = 64 << 20  # one record larger than this is reported, not buffered further
MAX_DEPTH_MESSAGE = "nested too deeply (more than the JSON parser's depth limit)"


Record = tuple  # (position, value): position is the line number (JSONL) or 1-based index in the array (JSON)


class ReadError(NamedTuple):
    position: int  # 0 when the problem concerns the whole file
    message: str
    fatal: bool = False  # reading stopped here


Item = Union[tuple[int, Any], ReadError]


def records_only(path: Path) -> Iterator[tuple[int, Any]]:
    """The records of a file, skipping read errors (use after validation)."""
    for item in read_records(path):
        if not isinstance(item, ReadError):
            yield item


MAX_WALK_DEPTH = 20


def walk_strings(
    value: Any, path: str = "", skip_keys: frozenset[str] = frozenset(), depth: int = 0
) -> Iterator[tuple[str, str]]:
    """Every string in a record with its dotted path (``messages.1.content``), depth-first, in order; keys in
    ``skip_keys`` are not entered. Stops at a fixed depth, so hostile nesting costs nothing."""
    if depth > MAX_WALK_DEPTH:
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in skip_keys:
                yield from walk_strings(v, f"{path}.{k}" if path else str(k), skip_keys, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_strings(v, f"{path}.{i}" if path else str(i), skip_keys, depth + 1)


_decoder = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\r\n]*")


def _loads(text: str) -> Any:
    return _decoder.decode(text)


def read_records(path: Path) -> Iterator[Item]:
    """Records (or read errors) of a .json/.jsonl file, in order."""
    if path.suffix.lower() == ".jsonl":
        yield from _read_jsonl(path)
    else:
        yield from _read_json_array(path)


def _read_jsonl(path: Path) -> Iterator[Item]:
    fast = _fast_loads
    with open_regular(path) as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if fast is not None:
                try:
                    yield (number, fast(raw))
                    continue
                except ValueError:
                    pass  # blank, or broken: the slow path below says which
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield ReadError(number, f"not valid UTF-8 (byte {exc.start + 1} of the line)")
                continue
            try:
                yield (number, _loads(text))
            except json.JSONDecodeError as exc:
                yield ReadError(number, f"not valid JSON: {exc.msg} (column {exc.colno})")
            except RecursionError:
                yield ReadError(number, MAX_DEPTH_MESSAGE)


class _Stream:
    """Decoded text of a file, read in chunks, with a moving window."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.pending = b""

    def more(self, size: int = CHUNK) -> bool:
        """Read at least ``size`` more bytes (CHUNK at least); False at end of file."""
        if self.eof:
            return False
        raw = self.handle.read(max(size, CHUNK))
        if not raw:
            self.eof = True
            if self.pending:
                raise UnicodeDecodeError("utf-8", self.pending, 0, len(self.pending), "truncated UTF-8 sequence")
            return False
        data = self.pending + raw
        # keep an incomplete multi-byte sequence for the next chunk
        cut = len(data)
        for back in range(1, min(4, len(data)) + 1):
            byte = data[-back]
            if byte & 0xC0 == 0x80:
                continue
            if byte & 0x80:
                need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
                if back < need:
                    cut = len(data) - back
            break
        self.pending = data[cut:]
        self.buf = self.buf[self.pos :] + data[:cut].decode("utf-8")
        self.pos = 0
        return True

    def skip_space(self) -> str:
        """The next non-space character ('' at end of file)."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]  # [ \t\r\n]* always matches
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""


def _read_json_array(path: Path) -> Iterator[Item]:
    with open_regular(path) as handle:
        head = handle.read(3)
        if head != b"\xef\xbb\xbf":
            handle.seek(0)
        stream = _Stream(handle)
        try:
            first = stream.skip_space()
            if first == "":
                yield ReadError(0, "the file is empty; a .json dataset is an array of records: [{...}, ...]", True)
                return
            if first != "[":
                kind = "an object" if first == "{" else "not an array"
                yield ReadError(
                    0,
                    f"the top level is {kind}; a .json dataset must be an array of records [{{...}}, ...] "
                    "(or use .jsonl with one record per line)",
                    True,
                )
                return
            stream.pos += 1
            index = 0
            expect_value = True
            while True:
                ch = stream.skip_space()
                if ch == "":
                    yield ReadError(
                        index + 1 if index else 0, "the file ends before the closing ']' (truncated?)", True
                    )
                    return
                if ch == "]" and (index == 0 or not expect_value):
                    stream.pos += 1
                    break
                if not expect_value:
                    if ch != ",":
                        yield ReadError(index, f"expected ',' or ']' after record {index}, found {ch!r}", True)
                        return
                    stream.pos += 1
                    expect_value = True
                    continue
                if ch == "{" and _fast_loads is not None:
                    batch = _decode_batch(stream)
                    if batch:
                        for value in batch:
                            index += 1
                            yield (index, value)
                        expect_value = False
                        continue
                index += 1
                value = _decode_one(stream, index)
                if isinstance(value, ReadError):
                    yield value
                    return
                yield (index, value)
                expect_value = False
            if stream.skip_space() != "":
                yield ReadError(index, "unexpected text after the closing ']'", True)
        except UnicodeDecodeError:
            yield ReadError(0, "not valid UTF-8 text; save the file as UTF-8", True)


def _decode_batch(stream: _Stream, tries: int = 8) -> Any:
    """Many whole records at once: cut the buffer after a '}' that a ',' or ']' follows and parse the slice.

    A cut inside a string leaves that string unterminated, and a cut inside a nested value leaves brackets
    unbalanced, so the slice parses only when the cut is a real record boundary; otherwise None (the caller
    then decodes one record the careful way).
    """
    assert _fast_loads is not None  # the caller uses this path only with orjson
    buf, start = stream.buf, stream.pos
    cut = buf.rfind("}", start)
    while cut > start and tries:
        tries -= 1
        after = _SPACE.match(buf, cut + 1).end()  # type: ignore[union-attr]  # [ \t\r\n]* always matches
        if after < len(buf) and buf[after] in ",]":
            try:
                values = _fast_loads("[" + buf[start : cut + 1] + "]")
            except ValueError:
                return None
            stream.pos = cut + 1
            return values
        cut = buf.rfind("}", start, cut)
    return None


def _decode_one(stream: _Stream, index: int) -> Any:
    """Decode the value at the stream position, reading more while it may just be cut by a chunk boundary."""
    while len(stream.buf) - stream.pos < LOOKAHEAD and stream.more():
        pass  # a value cut by the chunk boundary may still parse (e.g. "0" of "0.5"): keep some text ahead
    while True:
        try:
            value, end = _decoder.raw_decode(stream.buf, stream.pos)
        except json.JSONDecodeError as exc:
            # a record longer than the buffer: double what is read, so a huge record is parsed O(log n) times
            if len(stream.buf) - stream.pos < MAX_RECORD_CHARS and stream.more(len(stream.buf) - stream.pos):
                continue
            return ReadError(index, f"not valid JSON: {exc.msg} (record {index})", True)
        except RecursionError:
            return ReadError(index, MAX_DEPTH_MESSAGE, True)
        if end == len(stream.buf) and stream.more():
            continue  # a number at the very end of the buffer may go on in the next chunk
        stream.pos = end
        return value
