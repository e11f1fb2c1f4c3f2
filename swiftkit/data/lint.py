"""The identity lint: what a schema cannot see across records.

Errors: unfilled placeholders in training data, empty answers, records longer than max_length (ms-swift
deletes them silently). Warnings: several names/authors, duplicate questions, too few records, one language.
Memory is bounded: duplicate tracking and name counting stop growing after fixed limits.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from swiftkit.config.schema import IdentitySection
from swiftkit.data.formats import QUERY_ALIASES, RESPONSE_ALIASES
from swiftkit.data.identity import language_of, placeholder_in
from swiftkit.data.readers import walk_strings

MAX_SCANNED = 20_000  # records scanned for duplicates, names and languages (identity sets are far smaller)
MAX_SCANNED_CHARS = 4096  # of one question/answer, for duplicates, names and languages: a huge field costs nothing
TEMPLATE_OVERHEAD_TOKENS = 24  # chat-template tokens around one exchange (role markers, newlines)
# More characters per token than any real text averages (2-5): a record is tokenized only up to
# (max_length + 1) x this many characters, so time and memory stay bounded whatever its size.
MAX_CHARS_PER_TOKEN = 32
EMPTY = "empty answer: the model would learn to say nothing"
EMPTY_QUESTION = "empty question: only whitespace, nothing for the model to answer"

_WORDS = r"[A-Z][A-Za-z0-9_&-]*(?: [A-Z][A-Za-z0-9_&-]*)*"
_MADE = r"(?:开发|创造|创建|打造|训练|设计|制作)"
_NAME_EN = re.compile(rf"\b(?:I am|I'm|my name is|call me)\s+({_WORDS})")
_NAME_ZH = re.compile(
    rf"(?:我是|我叫|名字是|名字叫|叫我)\s*((?>[A-Za-z][A-Za-z0-9_-]*(?: [A-Z][A-Za-z0-9_-]*)*))(?!\s*{_MADE})"
)
_AUTHOR_EN = re.compile(rf"\b(?:developed|created|made|built|trained|designed)\s+by\s+({_WORDS})")
_AUTHOR_ZH = re.compile(rf"由\s*([^\s，。,.、！!？?]+(?: [^\s，。,.、！!？?]+)*?)\s*{_MADE}")
_NOT_NAMES = {
    "ChatGPT",
    "Claude",
    "Qwen",
    "OpenAI",
    "Google",
    "Alibaba",
    "AI",
    "A",
    "An",
    "No",
    "Not",
    "他们",
    "我们",
    "他",
    "她",
    "它",
}


@dataclass
class LintSettings:
    identity: Optional[IdentitySection] = None
    min_records: Optional[int] = None
    languages: Optional[list[str]] = None
    max_length: Optional[int] = None
    tokenizer: Optional[Path] = None  # a tokenizer.json
    check_identity: bool = True  # names/authors/duplicates (identity data); off for general data
    strict_placeholders: bool = True  # placeholders are errors (training data); False: warnings (could be a template)
    allow_identity_mismatch: bool = False  # answers naming another identity than the profile's: warning, not error


@dataclass
class LintProblem:
    record: int
    field: str
    message: str
    severity: str


@dataclass
class Exchange:
    question: str
    answers: list[tuple[str, str]]  # (field path, text)
    strings: list[tuple[str, str]]  # every string field (path, text)
    # (field path, text) of each question whose emptiness the schema does not already report ("" is a schema
    # error for instruction/query, so only whitespace is checked there; every user turn of a conversation)
    questions: list[tuple[str, str]] = field(default_factory=list)


def _blank_alpaca(record: dict[str, Any]) -> bool:
    """instruction + input hold only whitespace (ms-swift joins them into the question)."""
    parts = [x for x in (record.get("instruction"), record.get("input")) if isinstance(x, str)]
    return bool(parts) and "".join(parts).isspace()


def exchange_of(fmt: str, record: dict[str, Any]) -> Optional[Exchange]:
    """The question, the answers and every string of a record, or None when it is too broken to read."""
    strings = list(walk_strings(record))
    rec = {str(k).lower(): v for k, v in record.items()}
    questions: list[tuple[str, str]] = []
    if fmt == "alpaca":
        question = " ".join(x for x in (rec.get("instruction"), rec.get("input")) if isinstance(x, str) and x)
        answers = [("output", rec["output"])] if isinstance(rec.get("output"), str) else []
        if _blank_alpaca(rec):
            questions.append(("instruction", question))
    elif fmt == "query-response":
        qkey = next((k for k in QUERY_ALIASES if isinstance(rec.get(k), str)), None)
        question = rec[qkey] if qkey else ""
        key = next((k for k in RESPONSE_ALIASES if k in rec), None)
        answers = [(key, rec[key])] if key and isinstance(rec[key], str) else []
        if qkey and question.isspace():
            questions.append((qkey, question))
    else:
        turns = rec.get("messages") if fmt == "messages" else rec.get("conversations", rec.get("conversation"))
        if not isinstance(turns, list):
            return None
        question, answers = "", []
        for i, turn in enumerate(turns):
            if not isinstance(turn, dict):
                continue
            role = turn.get("role", turn.get("from"))
            text = turn.get("content", turn.get("value"))
            if role is None:  # ShareGPT pair {human, assistant}
                q = turn.get("human", turn.get("user"))
                a = next((turn[k] for k in ("assistant", "gpt", "bot") if k in turn), None)
                if isinstance(q, str) and not question:
                    question = q
                if isinstance(q, str):
                    questions.append((f"conversations.{i}", q))
                if isinstance(a, str):
                    answers.append((f"{'conversations'}.{i}", a))
                continue
            key = "content" if "content" in turn else "value"
            where = f"{'messages' if fmt == 'messages' else 'conversations'}.{i}.{key}"
            if role in ("user", "human") and isinstance(text, str):
                question = question or text
                questions.append((where, text))
            if role in ("assistant", "gpt", "bot") and isinstance(text, str):
                answers.append((where, text))
    return Exchange(question=question, answers=answers, strings=strings, questions=questions)


class Linter:
    def __init__(self, settings: LintSettings, template: bool = False) -> None:
        self.settings = settings
        self.template = template
        self.problems: list[LintProblem] = []
        self.seen: dict[str, int] = {}
        self.names: Counter[str] = Counter()
        self.authors: Counter[str] = Counter()
        self.first_seen: dict[str, int] = {}
        self.languages: Counter[str] = Counter()
        self.count = 0
        self.measure = settings.tokenizer is not None and bool(settings.max_length)

    def add_fast(self, fmt: str, record: dict[str, Any], position: int) -> None:
        """A record that passed the fast schema check: its fields are known strings."""
        if fmt != "alpaca":
            self.add(fmt, record, position)
            return
        if self.count < MAX_SCANNED or self.measure:
            instruction, extra = record["instruction"], record.get("input")
            question = f"{instruction}\n{extra}" if extra else instruction
            strings = [(k, v) for k, v in record.items() if type(v) is str]
            blank = [("instruction", question)] if _blank_alpaca(record) else []
            self._lint(Exchange(question, [("output", record["output"])], strings, blank), position)
            return
        # past the identity-scan window: only the per-record checks, without building an Exchange
        self.count += 1
        self._placeholders(position, [(k, v) for k, v in record.items() if type(v) is str])
        output = record["output"]
        if not output or output.isspace():
            self._add(position, "output", EMPTY)
        if _blank_alpaca(record):
            self._add(position, "instruction", EMPTY_QUESTION)

    def add(self, fmt: str, record: dict[str, Any], position: int) -> None:
        ex = exchange_of(fmt, record)
        if ex is not None:
            self._lint(ex, position)

    def _lint(self, ex: Exchange, position: int) -> None:
        self.count += 1
        self._placeholders(position, ex.strings)
        for path, text in ex.answers:
            if not text or text.isspace():
                self._add(position, path, EMPTY)
        for path, text in ex.questions:
            if not text or text.isspace():
                self._add(position, path, EMPTY_QUESTION if text else "empty question: nothing for the model to answer")
        if self.count <= MAX_SCANNED:
            self.languages[language_of(_head(ex.question)) if ex.question else "en"] += 1
            if self.settings.check_identity:
                self._identity(ex, position)
        if self.measure and self.settings.tokenizer is not None and self.settings.max_length:
            severity, problem = _length_problem(
                [t for _, t in ex.strings], self.settings.tokenizer, self.settings.max_length
            )
            if problem:
                self._add(position, "-", problem, severity)

    def _identity(self, ex: Exchange, position: int) -> None:
        question = ex.question
        if len(question) > MAX_SCANNED_CHARS:  # a huge question is keyed by its start and its length
            question = f"{_head(question)} #{len(question)}"
        key = " ".join(question.lower().split())
        if key:
            first = self.seen.get(key)
            if first is not None:
                self._add(position, "-", f"duplicate question (first at record {first})", "warning")
            else:
                self.seen[key] = position
        for _, full in ex.answers:
            text = _head(full)
            for name in _found(text, (_NAME_EN, _NAME_ZH)):
                self.names[name] += 1
                self.first_seen.setdefault("n:" + name, position)
            for author in _found(text, (_AUTHOR_EN, _AUTHOR_ZH)):
                self.authors[author] += 1
                self.first_seen.setdefault("a:" + author, position)

    def finish(self) -> list[LintProblem]:
        s = self.settings
        if s.check_identity and not self.template:
            self._several(
                "names",
                self.names,
                "n:",
                s.identity.name if s.identity else None,
                s.identity.name_zh if s.identity else None,
            )
            self._several(
                "authors",
                self.authors,
                "a:",
                s.identity.author if s.identity else None,
                s.identity.author_zh if s.identity else None,
            )
        if s.min_records and self.count < s.min_records:
            self._add(
                0,
                "-",
                f"{self.count} records, fewer than the recommended {s.min_records}; "
                "add paraphrases so the identity generalises",
                "warning",
            )
        if s.languages and self.count:
            missing = [lang for lang in s.languages if not self.languages.get(lang)]
            if missing:
                self._add(
                    0,
                    "-",
                    f"no {'/'.join(missing)} records although the profile asks for "
                    f"{' and '.join(s.languages)}; add some or set data.languages",
                    "warning",
                )
        return self.problems

    def _several(self, what: str, counts: Counter[str], prefix: str, *expected: Optional[str]) -> None:
        wanted = {e for e in expected if e}
        names = [n for n in counts if n not in _NOT_NAMES]

        def shown(found: list[str]) -> str:
            return ", ".join(
                f"{n!r} ×{counts[n]} (first at record {self.first_seen[prefix + n]})"
                for n in sorted(found, key=lambda n: -counts[n])[:5]
            )

        others = [n for n in names if not _same_identity(n, wanted)]
        if wanted and others:
            # the profile's identity is the one source of truth: other names in the answers would be trained too
            self._add(
                0,
                "-",
                f"the answers give the {what[:-1]} {shown(others)} but the profile's identity is "
                f"{' / '.join(sorted(wanted))}; train from a template with {{{{NAME}}}}/{{{{AUTHOR}}}} (filled from "
                "the profile, e.g. the one 'swiftkit init' writes), fix the answers, or set "
                "data.allow_identity_mismatch: true to train them knowingly",
                "warning" if self.settings.allow_identity_mismatch else "error",
            )
        elif not wanted and len(names) > 1:
            self._add(0, "-", f"several different {what} in the answers: {shown(names)}; use one", "warning")

    def _placeholders(self, record: int, strings: list[tuple[str, str]]) -> None:
        """Placeholders outside a template: an error in training data, a warning in a file nobody said is either
        (it is most likely a template: swiftkit train fills it from the profile's identity)."""
        if self.template:
            return
        for path, text in strings:
            match = placeholder_in(text)
            if match is None:
                continue
            if self.settings.strict_placeholders:
                message = (
                    f"unfilled placeholder {match.group(0)}: it would be trained verbatim; fill it with "
                    "'swiftkit identity render' or give the profile an identity"
                )
            else:
                message = (
                    f"placeholder {match.group(0)} (this file looks like an identity template): swiftkit train fills "
                    "it from the profile's identity:; plain ms-swift would train it verbatim"
                )
            self._add(record, path, message, "error" if self.settings.strict_placeholders else "warning")

    def _add(self, record: int, path: str, message: str, severity: str = "error") -> None:
        self.problems.append(LintProblem(record, path, message, severity))


def _same_identity(found: str, wanted: set[str]) -> bool:
    """``Lumen AI`` or ``Lumen's`` still name ``Lumen``: one contains the other, ignoring case."""
    low = found.casefold()
    return any(w.casefold() in low or low in w.casefold() for w in wanted)


def _head(text: str) -> str:
    """At most MAX_SCANNED_CHARS of ``text``, cut at a space so no word (or name) is cut in two."""
    if len(text) <= MAX_SCANNED_CHARS:
        return text
    head = text[:MAX_SCANNED_CHARS]
    cut = max(head.rfind(" "), head.rfind("\n"))
    return head[:cut] if cut > 0 else head


def _found(text: str, patterns: tuple[re.Pattern[str], ...]) -> set[str]:
    out = set()
    for pattern in patterns:
        for match in pattern.finditer(text):
            value = match.group(1).strip().rstrip(".")
            if value and value not in _NOT_NAMES and not placeholder_in(value):
                out.add(value)
    return out


@lru_cache(maxsize=4)
def _load_tokenizer(path: Path) -> Any:
    """Loaded once per process (a 3.5 MB tokenizer.json takes ~0.1 s)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def _length_problem(strings: list[str], tokenizer_file: Path, max_length: int) -> tuple[str, str]:
    """(severity, message) when a record is longer than ``max_length`` tokens, ("", "") when it fits. Bounded in
    time and memory whatever the record's size:

    1. a token covers at least one UTF-8 byte (plus at most a word-start marker), so a short record needs no
       tokenizer at all (it loads only when some record could be too long);
    2. only the first ``(max_length + 1) x MAX_CHARS_PER_TOKEN`` characters are ever tokenized: a longer record
       is too long when that prefix alone is (and, if it is not, it is reported as unmeasured).
    """
    chars = sum(len(t) for t in strings) + len(strings)
    too_long = (
        f"longer than max_length {max_length}: ms-swift deletes such records; shorten it or raise train.max_length"
    )
    if chars <= 4 * max_length:  # small: the exact byte bound is cheap
        if sum(len(t.encode("utf-8")) + t.count(" ") + 1 for t in strings) + TEMPLATE_OVERHEAD_TOKENS <= max_length:
            return "", ""
    limit = (max_length + 1) * MAX_CHARS_PER_TOKEN
    prefix, left = [], limit
    for text in strings:
        if left <= 0:
            break
        prefix.append(text[:left])
        left -= len(prefix[-1]) + 1
    tokens = len(_load_tokenizer(tokenizer_file).encode("\n".join(prefix)).ids) + TEMPLATE_OVERHEAD_TOKENS
    if chars <= limit:
        return ("error", f"about {tokens} tokens, {too_long}") if tokens > max_length else ("", "")
    if tokens > max_length:
        return "error", f"more than {max_length} tokens in its first {limit} of {chars} characters; {too_long}"
    return "warning", (
        f"{chars} characters, but its first {limit} are only about {tokens} tokens: not measured further; "
        f"check it fits max_length {max_length}"
    )
