"""Dataset validation: every format, every lint, and the bad inputs people produce — one clear line each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swiftkit import resources
from swiftkit.config.schema import IdentitySection
from swiftkit.data import validate
from swiftkit.data.lint import LintSettings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in content), encoding="utf-8")
    else:
        path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return path


def lines(report: validate.Report, tmp_path: Path, severity: str = "error") -> list[str]:
    problems = report.errors if severity == "error" else report.warnings
    return [p.line().replace(str(tmp_path) + "/", "") for p in problems]


A = {"instruction": "Who are you?", "input": "", "output": "I am Nova."}

VALID = [
    ("alpaca", [A, {"instruction": "Hi", "output": "Hello."}]),
    ("alpaca", [{"instruction": "Hi", "input": None, "output": "x", "system": "Be brief.", "history": [["a", "b"]]}]),
    ("messages", [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}]),
    (
        "messages",
        [
            {
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a", "loss": True},
                ]
            }
        ],
    ),
    (
        "messages",
        [
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "tool_call", "content": "{}"},
                    {"role": "tool_response", "content": "{}"},
                    {"role": "assistant", "content": "a"},
                ]
            }
        ],
    ),
    ("sharegpt", [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}]),
    ("sharegpt", [{"conversation": [{"human": "Hi", "assistant": "Hello"}], "system": "s"}]),
    ("sharegpt", [{"conversations": [{"user": "Hi", "bot": "Hello"}]}]),
    ("query-response", [{"query": "q", "response": "r", "history": [["q0", "r0"]]}]),
    ("query-response", [{"question": "q", "answer": "r"}]),  # ms-swift column aliases
    ("query-response", [{"prompt": "q", "completion": "r", "system_prompt": "s"}]),
]


@pytest.mark.parametrize(("fmt", "records"), VALID, ids=[f"{f}-{i}" for i, (f, _) in enumerate(VALID)])
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_valid_records_of_every_format(tmp_path, fmt, records, suffix):
    path = write(tmp_path, "d" + suffix, records)
    report = validate.validate_paths([path])
    assert report.ok, lines(report, tmp_path)
    assert report.files[0].format == fmt
    assert report.files[0].records == len(records)


BAD_RECORDS = [
    (
        {"instruction": "Q", "input": ""},
        "d.json:1:output: required field is missing (a record without an answer trains nothing)",
    ),
    ({"instruction": "Q", "input": "", "output": None}, "d.json:1:output: must be a string, not null"),
    ({"instruction": "Q", "input": "", "output": 42}, "d.json:1:output: must be a string, not a number"),
    ({"instruction": "", "input": "", "output": "a"}, "d.json:1:instruction: must not be empty"),
    ({"instruction": ["Q"], "input": "", "output": "a"}, "d.json:1:instruction: must be a string, not a list"),
    (
        {"instruction": "Q", "input": "", "output": "  "},
        "d.json:1:output: empty answer: the model would learn to say nothing",
    ),
    (
        {"messages": [{"role": "human", "content": "q"}, {"role": "assistant", "content": "a"}]},
        "d.json:1:messages.0.role: 'human' is not one of system, user, assistant, tool_call, tool_response, tool",
    ),
    (
        {"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "a"}]},
        "d.json:1:messages.0.content: must be a string, not null",
    ),
    (
        {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]},
        "d.json:1:messages.0.content: required field is missing",
    ),
    ({"messages": []}, "d.json:1:messages: must have at least 1 item"),
    (
        {"messages": [{"role": "user", "content": "q"}]},
        "d.json:1:messages: no assistant message: this record teaches nothing",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "q2"},
            ]
        },
        "d.json:1:messages.2: the last message must be the assistant's",
    ),
    ({"conversations": [{"from": "human", "value": "q"}, {"from": "robot", "value": "a"}]}, "d.json:1:conversations.1"),
    ({"question": "q"}, "d.json:1:response: required field is missing"),
    ({"question": "q", "prompt": "p", "answer": "a"}, "d.json:1:-: several query fields (prompt, question)"),
    ({"foo": 1, "bar": 2}, "d.json:1:-: no known fields (bar, foo)"),
    ("just a string", "d.json:1:-: a record must be a JSON object, not a string"),
    (None, "d.json:1:-: a record must be a JSON object, not null"),
]


@pytest.mark.parametrize(("record", "expected"), BAD_RECORDS, ids=[e.split(": ", 1)[-1][:40] for _, e in BAD_RECORDS])
def test_bad_records_report_file_record_field(tmp_path, record, expected):
    path = write(tmp_path, "d.json", [record])
    report = validate.validate_paths([path])
    assert not report.ok
    assert any(line.startswith(expected) for line in lines(report, tmp_path)), lines(report, tmp_path)


BAD_FILES = [
    ("d.json", b"", "d.json:-:-: the file is empty"),
    ("d.json", b"[]", "d.json:-:-: the file holds no records"),
    ("d.jsonl", b"", "d.jsonl:-:-: the file holds no records"),
    ("d.jsonl", b"\n\n", "d.jsonl:-:-: the file holds no records"),
    ("d.json", b'{"instruction": "q", "output": "a"}', "d.json:-:-: the top level is an object"),
    ("d.json", b'"text"', "d.json:-:-: the top level is not an array"),
    ("d.json", b'[{"instruction": "q", "output": "a"}, {"instruction": "q2", "outp', "d.json:2:-: not valid JSON"),
    ("d.json", b'[{"instruction": "q", "output": "a"}', "d.json:2:-: the file ends before the closing ']'"),
    ("d.json", b'[{"instruction": "q", "output": "a"},]', "d.json:2:-: not valid JSON"),
    ("d.json", b'[{"instruction": "q", "output": "a"}] extra', "d.json:1:-: unexpected text after the closing ']'"),
    ("d.jsonl", b'{"instruction": "q", "output": "a"}\n{"instruction": \n', "d.jsonl:2:-: not valid JSON"),
    (
        "d.jsonl",
        b'{"instruction": "q", "output": "a"}\n[1, 2]\n',
        "d.jsonl:2:-: a record must be a JSON object, not a list",
    ),
    ("d.jsonl", b'{"instruction": "q", "output": "\xff"}\n', "d.jsonl:1:-: not valid UTF-8"),
    ("d.json", b'[{"instruction": "q", "output": "\xff"}]', "d.json:-:-: not valid UTF-8"),
    ("d.json", b"[" * 100_000 + b"]" * 100_000, "d.json:1:-: nested too deeply"),
    ("d.jsonl", b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"\n", "d.jsonl:1:-: nested too deeply"),
    ("d.txt", b"hello", "d.txt:-:-: swiftkit validates .json"),
    (
        "d.jsonl",
        json.dumps(A).encode() + b"\n" + json.dumps({"messages": [{"role": "user", "content": "q"}]}).encode(),
        "d.jsonl:2:-: this record is messages but the file is alpaca (from record 1)",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "expected"), BAD_FILES, ids=[e.split(": ", 1)[-1][:40] for *_, e in BAD_FILES]
)
def test_bad_files(tmp_path, name, content, expected):
    path = write(tmp_path, name, content)
    before = sorted(p.name for p in tmp_path.iterdir())
    report = validate.validate_paths([path])
    assert not report.ok
    assert any(line.startswith(expected) for line in lines(report, tmp_path)), lines(report, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_missing_file_and_directory(tmp_path):
    report = validate.validate_paths([tmp_path / "nope.json", tmp_path])
    got = lines(report, tmp_path)
    assert "nope.json:-:-: does not exist; check the path" in got
    assert any(": is a folder" in line for line in got)


def test_all_problems_not_the_first(tmp_path):
    records = [A, {"instruction": "Q2"}, {"instruction": "Q3", "output": 1}, {"instruction": "Q4", "output": ""}]
    report = validate.validate_paths([write(tmp_path, "d.jsonl", records)])
    assert lines(report, tmp_path) == [
        "d.jsonl:2:output: required field is missing (a record without an answer trains nothing)",
        "d.jsonl:3:output: must be a string, not a number",
        "d.jsonl:4:output: empty answer: the model would learn to say nothing",
    ]


def test_record_number_is_the_line_number_in_jsonl(tmp_path):
    path = write(tmp_path, "d.jsonl", json.dumps(A) + "\n\n\n" + json.dumps({"instruction": "q"}) + "\n")
    assert lines(validate.validate_paths([path]), tmp_path)[0].startswith("d.jsonl:4:output:")


def test_forced_format(tmp_path):
    path = write(tmp_path, "d.json", [A])
    report = validate.validate_paths([path], validate.Options(fmt="messages"))
    assert lines(report, tmp_path) == ["d.json:1:messages: required field is missing"]


def test_unknown_fields_are_summarised_warnings(tmp_path):
    path = write(tmp_path, "d.json", [{**A, "ouput": "x"}, {**A, "instruction": "Other?", "ouput": "y"}])
    report = validate.validate_paths([path])
    assert report.ok
    assert lines(report, tmp_path, "warning") == [
        "d.json:1:ouput: unknown field, ignored by ms-swift (and 1 more records); did you mean 'output'?"
    ]


# ------------------------------------------------------------------ identity lint
def identity_records(name="Nova", author="Lab X", n=4, zh=True):
    recs = [
        {"instruction": f"Who are you {i}?", "input": "", "output": f"I am {name}, developed by {author}."}
        for i in range(n)
    ]
    if zh:
        recs.append({"instruction": "你是谁？", "input": "", "output": f"我是{name}，由{author}开发。"})
    return recs


@pytest.mark.parametrize(
    ("records", "settings", "expected"),
    [
        (identity_records(), LintSettings(), []),
        (
            identity_records() + [{"instruction": "Name?", "input": "", "output": "I am Zed, developed by Lab X."}],
            LintSettings(),
            ["d.json:-:-: several different names in the answers: 'Nova' ×5 (first at record 1), 'Zed' ×1"],
        ),
        (
            identity_records() + [{"instruction": "Maker?", "input": "", "output": "I was made by Other Corp."}],
            LintSettings(),
            ["d.json:-:-: several different authors in the answers: 'Lab X' ×5"],
        ),
        (
            identity_records() + [{"instruction": "Who are you 1?", "input": "", "output": "I am Nova."}],
            LintSettings(),
            ["d.json:6:-: duplicate question (first at record 2)"],
        ),
        (identity_records(), LintSettings(min_records=50), ["d.json:-:-: 5 records, fewer than the recommended 50"]),
        (
            identity_records(zh=False),
            LintSettings(languages=["en", "zh"]),
            ["d.json:-:-: no zh records although the profile asks for en and zh"],
        ),
        (
            identity_records(),
            LintSettings(identity=IdentitySection(name="Kite", author="Lab X"), allow_identity_mismatch=True),
            ["d.json:-:-: the answers give the name 'Nova' ×5 (first at record 1) but the profile's identity is Kite"],
        ),
        (identity_records(), LintSettings(identity=IdentitySection(name="Nova", author="Lab X")), []),
    ],
)
def test_identity_lint_warnings(tmp_path, records, settings, expected):
    path = write(tmp_path, "d.json", records)
    report = validate.validate_paths([path], validate.Options(lint=settings))
    assert report.ok
    got = lines(report, tmp_path, "warning")
    assert len(got) == len(expected), got
    for line, want in zip(got, expected, strict=True):
        assert line.startswith(want), got


def test_template_mode_allows_placeholders(tmp_path):
    records = [{"instruction": "Who?", "input": "", "output": "I am {{NAME}} by {{AUTHOR}}."}]
    assert validate.validate_paths([write(tmp_path, "x.template.json", records)]).ok  # by name
    unnamed = validate.validate_paths([write(tmp_path, "x.json", records)])  # could be a template: a warning
    assert unnamed.ok and unnamed.warnings
    assert not validate.validate_paths([write(tmp_path, "z.json", records)], validate.Options(template=False)).ok
    assert validate.validate_paths([write(tmp_path, "y.json", records)], validate.Options(template=True)).ok


def test_max_length_in_tokens_with_a_tokenizer(tmp_path, tiny_tokenizer):
    long = {"instruction": "Tell me", "input": "", "output": "word " * 300}
    path = write(tmp_path, "d.json", [A, long])
    report = validate.validate_paths(
        [path], validate.Options(lint=LintSettings(max_length=128, tokenizer=tiny_tokenizer))
    )
    got = lines(report, tmp_path)
    assert len(got) == 1 and got[0].startswith("d.json:2:-: about ") and "longer than max_length 128" in got[0]


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "word": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


# ------------------------------------------------------------------ shipped datasets and the CLI
def test_shipped_datasets_validate_clean_and_the_template_only_as_template():
    data = sorted((ROOT / "datasets").glob("*.json")) + sorted((ROOT / "datasets").glob("*.jsonl"))
    report = validate.validate_paths(data)
    assert report.ok and not report.warnings, [p.line() for p in report.errors + report.warnings]
    template = resources.path("identity/identity.template.json")
    as_data = validate.validate_paths([template], validate.Options(template=False))
    assert not as_data.ok and all("unfilled placeholder" in p.message for p in as_data.errors)


def test_cli_exit_codes_and_json(tmp_path):
    good = write(tmp_path, "good.json", [A])
    bad = write(tmp_path, "bad.jsonl", [A, {"instruction": "q"}])
    ok = invoke("validate", str(good))
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "1 file(s), 1 record(s): 0 error(s), 0 warning(s)\n")
    failed = invoke("validate", str(good), str(bad))
    assert failed.returncode == 1
    assert failed.stdout.splitlines() == [
        f"{bad}:2:output: required field is missing (a record without an answer trains nothing)"
    ]
    assert failed.stderr == "2 file(s), 3 record(s): 1 error(s), 0 warning(s)\n"
    as_json = invoke("validate", "--json", str(bad))
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and data["ok"] is False
    assert data["errors"][0] == {
        "file": str(bad),
        "record": 2,
        "field": "output",
        "message": "required field is missing (a record without an answer trains nothing)",
        "severity": "error",
    }


# ------------------------------------------------------------------ never crash
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "instruction",
                    "input",
                    "output",
                    "messages",
                    "role",
                    "content",
                    "conversations",
                    "from",
                    "value",
                    "query",
                    "response",
                    "system",
                    "history",
                    "x",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values, suffix=st.sampled_from([".json", ".jsonl"]))
def test_arbitrary_json_never_crashes(tmp_path, value, suffix):
    path = tmp_path / f"h{suffix}"
    body = json.dumps(value if suffix == ".jsonl" else [value])
    path.write_text(body + "\n", encoding="utf-8")
    report = validate.validate_paths([path])
    for problem in report.errors + report.warnings:
        assert problem.line().startswith(str(path) + ":")


VALID_LINE = b'{"instruction": "Who are you?", "output": "I am X."}\n'
# random bytes, alone or after one valid record (so a dropped read error would let the file pass)
any_bytes = st.binary(max_size=200) | st.binary(max_size=60).map(lambda tail: VALID_LINE + tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=any_bytes, suffix=st.sampled_from([".json", ".jsonl"]))
def test_arbitrary_bytes_never_crash(tmp_path, data, suffix):
    path = tmp_path / f"b{suffix}"
    path.write_bytes(data)
    report = validate.validate_paths([path])
    assert len(report.files) == 1
    assert all(p.line().startswith(f"{path}:") for p in report.errors)
    # judged independently with the standard library: bytes that are not UTF-8 JSON records never pass
    parsed = stdlib_records(data, suffix)
    if parsed is None or not parsed or not all(isinstance(v, dict) for v in parsed):
        assert not report.ok, (data, report.to_json())


def stdlib_records(data: bytes, suffix: str) -> list | None:
    """The values a file holds as Python's own json reads it (None: not UTF-8 JSON of the file's shape)."""
    try:
        text = data.decode("utf-8-sig")
        if suffix == ".jsonl":
            return [json.loads(line) for line in text.split("\n") if line.strip()]
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, list) else None


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_fast_path_never_accepts_what_the_schema_rejects(value):
    for fmt, fast in validate.FAST.items():
        if isinstance(value, dict) and fast(value):
            assert validate.schema_problems(fmt, value) == [], (fmt, value)


@pytest.mark.parametrize("column", ["content", "answers", "targets", "answer_key", "answer", "response"])
def test_every_response_alias_gets_the_empty_answer_check(tmp_path, column):
    """The lint and the schema share one alias list: an empty answer under any alias ms-swift reads is an error."""
    path = tmp_path / "qr.jsonl"
    path.write_text(json.dumps({"question": "Who are you?", column: ""}) + "\n", encoding="utf-8")
    report = validate.validate_paths([path])
    assert any("empty answer" in p.message for p in report.errors), [p.line() for p in report.errors]
