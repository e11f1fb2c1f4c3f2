"""Dataset validation before any model loads: JSON Schema per record, streamed, plus the identity lint.

Formats follow ms-swift 4.x's AutoPreprocessor: ``messages``; ShareGPT ``conversation(s)``; Alpaca
(``instruction``/``input``/``output``); query/response with ms-swift's column aliases. A file is one
format (ms-swift picks one preprocessor per file), detected from its first record or forced.

Valid records take a fast path (plain type checks that accept a subset of what the schema accepts);
every other record goes through the JSON Schema validator, so every error message comes from the schema.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from swiftkit.data import lint
from swiftkit.data.formats import QUERY_ALIASES, RESPONSE_ALIASES, SYSTEM_ALIASES
from swiftkit.data.prepare import has_placeholders
from swiftkit.data.readers import ReadError, read_records
from swiftkit.fsutil import file_problem

SCHEMA_FILES = {
    "alpaca": "alpaca.json",
    "messages": "messages.json",
    "sharegpt": "sharegpt.json",
    "query-response": "query_response.json",
}
MAX_STORED = 1000  # problems kept per file and severity; counts stay exact

KNOWN_KEYS = {
    "alpaca": {"instruction", "input", "output", "system", "history"},
    "messages": {"messages", "system"},
    "sharegpt": {"conversation", "conversations", "system"},
    "query-response": {"query", "response", "system", "history"},
}
ALIASES = set(QUERY_ALIASES) | set(RESPONSE_ALIASES) | set(SYSTEM_ALIASES)
UNKNOWN = "unknown field"
# keys ms-swift uses for other purposes (multimodal, tools, RLHF): never "unknown"
PASSTHROUGH = {
    "images",
    "image",
    "audios",
    "audio",
    "videos",
    "video",
    "tools",
    "objects",
    "rejected_response",
    "rejected_messages",
    "label",
    "channel",
    "margin",
}


@dataclass(frozen=True)
class Problem:
    file: str
    record: int  # 0: the whole file
    field: str  # dotted path; "-" for the whole record/file
    message: str
    severity: str = "error"  # or "warning"

    def line(self) -> str:
        record = str(self.record) if self.record else "-"
        return f"{self.file}:{record}:{self.field or '-'}: {self.message}"


@dataclass
class FileReport:
    path: str
    format: Optional[str] = None
    records: int = 0
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0

    def add(self, problem: Problem) -> None:
        if problem.severity == "error":
            self.error_count += 1
            if len(self.errors) < MAX_STORED:
                self.errors.append(problem)
        else:
            self.warning_count += 1
            if len(self.warnings) < MAX_STORED:
                self.warnings.append(problem)


@dataclass
class Report:
    files: list[FileReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.error_count == 0 for f in self.files)

    @property
    def errors(self) -> list[Problem]:
        return sorted((p for f in self.files for p in f.errors), key=_order)

    @property
    def warnings(self) -> list[Problem]:
        return sorted((p for f in self.files for p in f.warnings), key=_order)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": [
                {
                    "path": f.path,
                    "format": f.format,
                    "records": f.records,
                    "errors": f.error_count,
                    "warnings": f.warning_count,
                }
                for f in self.files
            ],
            "errors": [p.__dict__ for p in self.errors],
            "warnings": [p.__dict__ for p in self.warnings],
        }


def _order(p: Problem) -> tuple[str, int, str, str]:
    return (p.file, p.record, p.field, p.message)


@cache
def schema(fmt: str) -> dict[str, Any]:
    text = resources.files("swiftkit.resources").joinpath("schemas", SCHEMA_FILES[fmt]).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def validator(fmt: str) -> Draft202012Validator:
    return Draft202012Validator(schema(fmt))


def detect(record: Any) -> Optional[str]:
    """The ms-swift format a single record has, or None."""
    if not isinstance(record, dict):
        return None
    keys = {str(k).lower() for k in record}
    if "messages" in keys:
        return "messages"
    if "conversation" in keys or "conversations" in keys:
        return "sharegpt"
    if "instruction" in keys and ("output" in keys or "input" in keys):
        return "alpaca"
    if keys & set(QUERY_ALIASES) or keys & set(RESPONSE_ALIASES):
        return "query-response"
    return None


# ------------------------------------------------------------------ fast paths (subset of the schemas)
def _str_or_none(value: Any) -> bool:
    return value is None or type(value) is str


_ALPACA_KEYS = frozenset(KNOWN_KEYS["alpaca"])


def _fast_alpaca(r: dict[str, Any]) -> bool:
    instruction, output = r.get("instruction"), r.get("output")
    if type(instruction) is not str or not instruction or type(output) is not str:
        return False
    if len(r) == 3 and "input" in r:  # the usual shape
        value = r["input"]
        return value is None or type(value) is str
    return (
        r.keys() <= _ALPACA_KEYS
        and _str_or_none(r.get("input"))
        and _str_or_none(r.get("system"))
        and r.get("history") is None
    )


_ROLES = frozenset({"system", "user", "assistant", "tool_call", "tool_response", "tool"})


def _fast_messages(r: dict[str, Any]) -> bool:
    messages = r.get("messages")
    if r.keys() - KNOWN_KEYS["messages"] or type(messages) is not list or not messages:
        return False
    for m in messages:
        if type(m) is not dict or m.keys() - {"role", "content"} or m.get("role") not in _ROLES:
            return False
        if type(m.get("content")) is not str:
            return False
    return messages[-1]["role"] == "assistant" and _str_or_none(r.get("system"))


def _fast_query_response(r: dict[str, Any]) -> bool:
    return (
        r.keys() <= KNOWN_KEYS["query-response"]
        and type(r.get("query")) is str
        and bool(r["query"])
        and type(r.get("response")) is str
        and _str_or_none(r.get("system"))
        and r.get("history") is None
    )


FAST = {"alpaca": _fast_alpaca, "messages": _fast_messages, "query-response": _fast_query_response}


# ------------------------------------------------------------------ normalisation to the schema's names
def normalise(fmt: str, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(record with canonical keys, canonical -> original key, alias problems)."""
    lowered: dict[str, Any] = {}
    original: dict[str, str] = {}
    for key, value in record.items():
        low = str(key).lower()
        if low in lowered:
            continue
        lowered[low] = value
        original[low] = str(key)
    problems: list[str] = []
    if fmt != "query-response":
        return lowered, original, problems
    out: dict[str, Any] = {}
    names: dict[str, str] = {}
    for canonical, aliases in (("query", QUERY_ALIASES), ("response", RESPONSE_ALIASES), ("system", SYSTEM_ALIASES)):
        present = [a for a in aliases if a in lowered]
        if len(present) > 1 and canonical not in present:
            shown = ", ".join(original[a] for a in present)
            problems.append(f"several {canonical} fields ({shown}): ms-swift then uses none of them; keep one")
        chosen = canonical if canonical in present else (present[0] if len(present) == 1 else None)
        if chosen is not None:
            out[canonical] = lowered[chosen]
            names[canonical] = original[chosen]
    for key in ("history",):
        if key in lowered:
            out[key] = lowered[key]
            names[key] = original[key]
    return out, names, problems


# ------------------------------------------------------------------ schema error messages
_TYPE_NAMES = {
    "string": "a string",
    "array": "a list",
    "object": "an object",
    "null": "null",
    "boolean": "true/false",
    "number": "a number",
    "integer": "an integer",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def describe(error: ValidationError) -> tuple[list[Any], str]:
    """(path, message) for one schema error, phrased for people; the facts come from the schema error."""
    if error.context:
        deepest = best_match(error.context)
        if deepest is not None:
            return describe(deepest)  # context errors carry absolute paths
    path = list(error.absolute_path)
    v, value = error.validator, error.validator_value
    if v == "required":
        missing = [name for name in value if isinstance(error.instance, dict) and name not in error.instance]
        name = missing[0] if missing else value[0]
        hint = " (a record without an answer trains nothing)" if name in ("output", "response") else ""
        return path + [name], f"required field is missing{hint}"
    if v == "type":
        wanted = value if isinstance(value, list) else [value]
        names = " or ".join(_TYPE_NAMES.get(str(w), str(w)) for w in wanted if w != "null") or "null"
        return path, f"must be {names}, not {_json_type(error.instance)}"
    if v == "minLength":
        return path, "must not be empty"
    if v == "minItems":
        return path, f"must have at least {value} item{'s' if value != 1 else ''}"
    if v == "maxItems":
        return path, f"must have at most {value} items"
    if v == "enum":
        close = difflib.get_close_matches(str(error.instance), [str(x) for x in value], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return path, f"{error.instance!r} is not one of {', '.join(map(str, value))}{hint}"
    if v == "oneOf" and isinstance(error.instance, dict):
        return path, "give exactly one of 'conversation' or 'conversations'"
    if v == "additionalProperties":
        return path, error.message
    return path, error.message


def schema_problems(fmt: str, record: Any) -> list[tuple[str, str]]:
    """(field, message) for every schema error of one record."""
    out = []
    for error in validator(fmt).iter_errors(record):
        path, message = describe(error)
        out.append((".".join(str(p) for p in path) or "-", message))
    return sorted(set(out))


# ------------------------------------------------------------------ per-file validation
@dataclass
class Options:
    fmt: Optional[str] = None  # force a format
    template: Optional[bool] = None  # None: by file name (*.template.json[l])
    lint: Optional[lint.LintSettings] = None


def is_template_name(path: Path) -> bool:
    return ".template." in path.name


def _linter(path: Path, options: Options) -> lint.Linter:
    # without a profile, placeholders are warnings (the file is most likely a template); with one that has an
    # identity, a file with placeholders is a template it fills; told it is data (template=False), they are errors
    settings = options.lint or lint.LintSettings(strict_placeholders=options.template is False)
    template = options.template
    if template is None:
        template = is_template_name(path) or (settings.identity is not None and has_placeholders(path))
    return lint.Linter(settings, template=template)


class _FileCheck:
    """One file's records beyond the fast path: the format (given, or from the first record that shows one),
    records of another format, schema problems, unknown fields (summarised per file) and the lint."""

    def __init__(self, shown: str, options: Options, linter: lint.Linter, report: FileReport) -> None:
        self.shown, self.forced, self.linter, self.report = shown, options.fmt, linter, report
        self.fmt = options.fmt
        self.fmt_from = 0
        self.fast = FAST.get(self.fmt) if self.fmt else None
        self.unknown: dict[str, list[int]] = {}  # field -> [first record, count]

    def record(self, position: int, value: Any) -> None:
        if not isinstance(value, dict):
            self._error(position, f"a record must be a JSON object, not {_json_type(value)}")
            return
        shape = detect(value)
        if self.fmt is None:
            if shape is None:
                self._error(position, _unrecognised(value))
                return
            self.fmt, self.fmt_from, self.fast = shape, position, FAST.get(shape)
        elif shape is not None and shape != self.fmt and self.forced is None and not _shares_keys(value, self.fmt):
            where = f"from record {self.fmt_from}" if self.fmt_from else "forced"
            self._error(
                position,
                f"this record is {shape} but the file is {self.fmt} ({where}); ms-swift reads one format per file — "
                "split the file or convert the record",
            )
            return
        for p in _check_record(self.fmt, value, position, self.shown):
            if p.message == UNKNOWN:  # summarised per file in finish()
                self.unknown.setdefault(p.field, [position, 0])[1] += 1
            else:
                self.report.add(p)
        self.linter.add(self.fmt, value, position)

    def _error(self, position: int, message: str) -> None:
        self.report.add(Problem(self.shown, position, "-", message))

    def finish(self, records: int) -> None:
        report = self.report
        report.format, report.records = self.fmt, records
        for key, (first, count) in sorted(self.unknown.items()):
            close = difflib.get_close_matches(key, sorted(KNOWN_KEYS[self.fmt or "alpaca"]), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            times = f" (and {count - 1} more records)" if count > 1 else ""
            report.add(Problem(self.shown, first, key, f"unknown field, ignored by ms-swift{times}{hint}", "warning"))
        if records == 0 and report.error_count == 0:
            self._error(0, "the file holds no records; ms-swift fails with 'corresponds to no data'")
        for found in self.linter.finish():
            report.add(Problem(self.shown, found.record, found.field, found.message, found.severity))


def validate_file(path: Path, options: Options) -> FileReport:
    shown = str(path)
    report = FileReport(path=shown)
    problem = _check_path(path)
    if problem:
        report.add(Problem(shown, 0, "-", problem))
        return report
    check = _FileCheck(shown, options, _linter(path, options), report)
    fmt, fast, add_fast = check.fmt, check.fast, check.linter.add_fast  # the hot loop reads locals
    records = 0
    for item in read_records(path):
        if isinstance(item, ReadError):
            report.add(Problem(shown, item.position, "-", item.message))
            continue
        records += 1
        position, value = item
        if fast is not None and fmt is not None and type(value) is dict and fast(value):
            add_fast(fmt, value, position)
            continue
        check.record(position, value)
        fmt, fast = check.fmt, check.fast
    check.finish(records)
    return report


def _shares_keys(record: dict[str, Any], fmt: str) -> bool:
    """A record with one of the file format's own keys is a broken record of that format, not another format."""
    return bool({str(k).lower() for k in record} & (KNOWN_KEYS[fmt] - {"system", "history"}))


def _check_path(path: Path) -> str:
    if path.is_dir():
        return "is a folder; give the dataset files in it (e.g. folder/*.json)"
    problem = file_problem(path)
    if problem:
        return problem
    if path.suffix.lower() not in (".json", ".jsonl"):
        return "swiftkit validates .json (an array of records) and .jsonl (one record per line) files"
    return ""


def _unrecognised(value: dict[str, Any]) -> str:
    keys = ", ".join(sorted(map(str, value))[:6]) or "no keys"
    return (
        f"no known fields ({keys}); expected instruction/output (Alpaca), messages, conversations (ShareGPT) "
        "or query/response — ms-swift would drop this record"
    )


def _check_record(fmt: str, value: dict[str, Any], position: int, shown: str) -> Iterator[Problem]:
    fast = FAST.get(fmt)
    if fast is not None and fast(value):
        return
    data, names, alias_problems = normalise(fmt, value)
    for message in alias_problems:
        yield Problem(shown, position, "-", message)
    for key in sorted(map(str, value)):
        low = key.lower()
        if low not in KNOWN_KEYS[fmt] and low not in ALIASES and low not in PASSTHROUGH:
            yield Problem(shown, position, key, UNKNOWN, "warning")
    for field_path, message in schema_problems(fmt, data):
        head, _, rest = field_path.partition(".")
        field_path = names.get(head, head) + (f".{rest}" if rest else "")
        yield Problem(shown, position, field_path, message)
    yield from _semantic(fmt, data, position, shown)


def _semantic(fmt: str, data: dict[str, Any], position: int, shown: str) -> Iterator[Problem]:
    """What the schema cannot say: a messages record must end with an assistant turn to teach anything."""
    if fmt == "messages" and isinstance(data.get("messages"), list) and data["messages"]:
        roles = [m.get("role") for m in data["messages"] if isinstance(m, dict)]
        if roles and "assistant" not in roles:
            yield Problem(shown, position, "messages", "no assistant message: this record teaches nothing")
        elif roles and roles[-1] != "assistant":
            yield Problem(
                shown,
                position,
                f"messages.{len(roles) - 1}",
                "the last message must be the assistant's; ms-swift trains on the final answer",
            )


def validate_paths(paths: Iterable[Path], options: Optional[Options] = None) -> Report:
    options = options or Options()
    return Report(files=[validate_file(Path(p), options) for p in paths])
