"""Hostile inputs: devices, FIFOs, symlink loops and broken links as datasets, prompts and profiles; a 50 MB
record; whitespace-only questions and answers. Each gets its own correct message, promptly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from swiftkit.data import validate
from swiftkit.data.lint import LintSettings

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"instruction": "Who are you?", "input": "", "output": "I am Swift-Robot."}


def make(kind: str, folder: Path, name: str) -> Path:
    """A path of ``kind`` named ``name`` in ``folder``."""
    path = folder / name
    if kind == "device":
        path.symlink_to("/dev/zero")  # endless bytes: reading it would never end
    elif kind == "fifo":
        os.mkfifo(path)  # opening it would block until a writer comes
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "dangling":
        path.symlink_to("nowhere-" + name)
    elif kind == "folder":
        path.mkdir()
    return path


KINDS = {
    "device": "is a device, not a regular file",
    "fifo": "is a named pipe (FIFO), not a regular file",
    "loop": "is a symbolic link loop",
    "dangling": "is a broken symbolic link",
    "missing": "does not exist",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_validate_names_what_the_path_is(tmp_path: Path, kind: str):
    path = make(kind, tmp_path, "d.jsonl")
    result = run_cli("validate", str(path), timeout=60)  # a FIFO or device read would hang: the timeout fails it
    assert result.returncode == 1
    assert f"{path}:-:-: {KINDS[kind]}" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_dev_zero_itself(tmp_path: Path):
    report = validate.validate_paths([Path("/dev/zero")])
    assert [p.line() for p in report.errors] == ["/dev/zero:-:-: is a device, not a regular file; give a file"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_profile_paths(tmp_path: Path, kind: str):
    path = make(kind, tmp_path, "p.yaml")
    result = run_cli("profiles", "show", str(path), timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: profile file {path} {KINDS[kind]}"), result.stderr


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_profile_dataset_paths(tmp_path: Path, kind: str):
    data = make(kind, tmp_path, "d.jsonl")
    profile = tmp_path / "p.yaml"
    profile.write_text(
        f"extends: {ROOT / 'profiles' / 'cpu-demo.yaml'}\ndata:\n  datasets:\n    - path: {data}\n"
        f"output_dir: {tmp_path / 'out'}\n",
        encoding="utf-8",
    )
    result = run_cli("train", "--profile", str(profile), "--dry-run", timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: dataset {data} {KINDS[kind].split(';')[0]}"), result.stderr
    assert "fix data.datasets" in result.stderr


def test_prompts_file_that_is_a_fifo(tmp_path: Path):
    from swiftkit.data.prompts import load_prompts
    from swiftkit.errors import SwiftkitError

    with pytest.raises(SwiftkitError, match="is a named pipe"):
        load_prompts(make("fifo", tmp_path, "p.jsonl"))


# ------------------------------------------------------------------ whitespace-only questions and answers
BLANK = [
    ({"instruction": " \t", "input": "", "output": "I am X."}, "instruction: empty question"),
    ({"instruction": "Who?", "input": "", "output": " \n "}, "output: empty answer"),
    ({"query": "   ", "response": "I am X."}, "query: empty question"),
    ({"question": "\n", "answer": "I am X."}, "question: empty question"),
    ({"query": "Who?", "response": "\t"}, "response: empty answer"),
    (
        {"messages": [{"role": "user", "content": "  "}, {"role": "assistant", "content": "I am X."}]},
        "messages.0.content: empty question",
    ),
    (
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "I am X."}]},
        "messages.0.content: empty question",
    ),
    (
        {"messages": [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "  "}]},
        "messages.1.content: empty answer",
    ),
    (
        {"conversations": [{"from": "human", "value": " "}, {"from": "gpt", "value": "I am X."}]},
        "conversations.0.value: empty question",
    ),
    ({"conversations": [{"human": "\u3000", "assistant": "I am X."}]}, "conversations.0: empty question"),
]


@pytest.mark.parametrize(("record", "expected"), BLANK, ids=[e for _, e in BLANK])
def test_whitespace_is_empty(tmp_path: Path, record: dict, expected: str):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    report = validate.validate_paths([path])
    assert [p.line() for p in report.errors if p.record] == [p.line() for p in report.errors]
    assert len(report.errors) == 1 and report.errors[0].line().startswith(f"{path}:1:{expected}"), report.errors


def test_whitespace_question_past_the_scan_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Alpaca records past the identity-scan window take a shorter path: it checks questions too."""
    from swiftkit.data import lint

    monkeypatch.setattr(lint, "MAX_SCANNED", 1)
    path = tmp_path / "d.jsonl"
    rows = [GOOD, GOOD, {"instruction": "  ", "input": " ", "output": "Yes."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = validate.validate_paths([path], validate.Options(fmt="alpaca"))
    assert [p.line() for p in report.errors] == [f"{path}:3:instruction: {lint.EMPTY_QUESTION}"]


# ------------------------------------------------------------------ the token-length lint is bounded
MEASURE = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from swiftkit.data import validate
    from swiftkit.data.lint import LintSettings
    path, tokenizer = Path(sys.argv[1]), Path(sys.argv[2])
    options = validate.Options(lint=LintSettings(max_length=512, tokenizer=tokenizer))
    validate.validate_paths([Path(sys.argv[3])], options)  # warm imports: the baseline
    before = resource.getrusage(resource.RUSAGE_SELF)
    report = validate.validate_paths([path], options)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(json.dumps({"cpu": cpu, "rss_mib": (after.ru_maxrss - before.ru_maxrss) / 1024,
                      "errors": [p.line() for p in report.errors]}))
    """
)


@pytest.fixture(scope="module")
def word_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = "I am Swift-Robot , an assistant made by ACME Lab . answer questions about many things".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_50_mb_record_is_answered_fast_in_little_memory(tmp_path: Path, word_tokenizer: Path, suffix: str):
    text = ("I am Swift-Robot, an assistant made by ACME Lab. I answer questions about many things. " * 600_000)[
        :50_000_000
    ]
    record = {"instruction": "Who are you?", "input": "", "output": text}
    path = tmp_path / f"huge{suffix}"
    body = json.dumps(record) + "\n" if suffix == ".jsonl" else json.dumps([record])
    path.write_text(body, encoding="utf-8")
    del text, body
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(word_tokenizer), str(small)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout)
    assert measured["errors"] == [
        f"{path}:1:-: more than 512 tokens in its first 16416 of 50000015 characters; longer than max_length 512: "
        "ms-swift deletes such records; shorten it or raise train.max_length"
    ]
    assert measured["cpu"] <= 2.0, measured  # CPU seconds: robust to other load on the machine
    assert measured["rss_mib"] <= 200, measured


def test_a_long_record_under_the_cap_is_measured_exactly(tmp_path: Path, word_tokenizer: Path):
    record = {"instruction": "Who are you?", "input": "", "output": "I am Swift-Robot . " * 200}  # 4 + 6 x 200 tokens
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    report = validate.validate_paths(
        [path], validate.Options(lint=LintSettings(max_length=512, tokenizer=word_tokenizer))
    )
    assert [p.line() for p in report.errors] == [
        f"{path}:1:-: about {4 + 6 * 200 + 24} tokens, longer than max_length 512: ms-swift deletes such records; "
        "shorten it or raise train.max_length"
    ]


def test_a_huge_record_of_few_tokens_is_a_warning_not_a_guess(tmp_path: Path, word_tokenizer: Path):
    """One unknown 'word' of 100k characters is a single [UNK] token: not too long, and not measured further."""
    record = {"instruction": "Who are you?", "input": "", "output": "x" * 100_000}
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    report = validate.validate_paths(
        [path], validate.Options(lint=LintSettings(max_length=512, tokenizer=word_tokenizer))
    )
    assert report.ok
    assert any("not measured further" in p.message for p in report.warnings), report.warnings
