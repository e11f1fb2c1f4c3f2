"""Functions that had no test of their own: profile copies, the schema, template rendering, answers, export
decisions, the disk estimate, run-folder naming, cache keys, and refusing to overwrite."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import resolved, safetensors_bytes, write_merged

from swiftkit.cli import cli
from swiftkit.config import profiles
from swiftkit.data import identity
from swiftkit.data.replay import cache_key
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import atomic_write_text
from swiftkit.jobs.export import plan_export
from swiftkit.jobs.infer import ResultCounter, complete_lines, read_answers
from swiftkit.layout import next_run_dir
from swiftkit.sizing import disk
from swiftkit.swift.version import flavor_for

V4 = flavor_for("4.6.0")


def test_copy_builtin_keeps_comments_and_rebases_paths(tmp_path):
    dest = profiles.copy_builtin("cpu-demo", tmp_path / "sub" / "mine.yaml")
    text = dest.read_text(encoding="utf-8")
    assert text.startswith("#")  # comments kept
    copied = profiles.load(str(dest)).profile
    original = profiles.load("cpu-demo").profile
    assert [d.path or d.replay for d in copied.data.datasets] == [d.path or d.replay for d in original.data.datasets]
    with pytest.raises(SwiftkitError, match="already exists; pass --force"):
        profiles.copy_builtin("cpu-demo", dest)


def test_json_schema_describes_every_section_and_extends():
    schema = profiles.json_schema()
    assert {"model", "lora", "train", "data", "identity", "extends"} <= set(schema["properties"])
    assert schema["title"] == "swiftkit profile"


def test_render_file_fills_both_languages_and_refuses_to_overwrite(tmp_path):
    template = tmp_path / "t.template.json"
    template.write_text(
        json.dumps(
            [
                {"instruction": "Who are you?", "input": "", "output": "I am {{NAME}}, made by {{AUTHOR}}."},
                {"instruction": "你是谁？", "input": "", "output": "我是{{NAME}}，由{{AUTHOR}}开发。"},
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert identity.render_file(template, out, name="Nova", author="Lab X", name_zh="诺瓦", author_zh="X实验室") == 2
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["output"] == "I am Nova, made by Lab X."
    assert rows[1]["output"] == "我是诺瓦，由X实验室开发。"
    with pytest.raises(SwiftkitError, match="already exists"):
        identity.render_file(template, out, name="A", author="B")
    assert "Nova" in out.read_text(encoding="utf-8")  # untouched


def test_read_answers_matches_by_question_and_counts(tmp_path):
    result = tmp_path / "r.jsonl"
    rows = [("b", "B!"), ("a", "A!")]
    result.write_text(
        "".join(json.dumps({"messages": [{"role": "user", "content": q}], "response": r}) + "\n" for q, r in rows),
        encoding="utf-8",
    )
    assert read_answers(result, ["a", "b"]) == ["A!", "B!"]
    with pytest.raises(SwiftkitError, match="answered 2 of 3"):
        read_answers(result, ["a", "b", "c"])
    with pytest.raises(SwiftkitError, match="no readable results"):
        read_answers(tmp_path / "missing.jsonl", ["a"])


def _checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    return folder


def test_plan_export_merges_then_is_up_to_date_then_force(tmp_path):
    lp = profiles.load("4090d", [f"output_dir={tmp_path}"])
    ck = _checkpoint(tmp_path / "v0-20260101-000000" / "checkpoint-5")
    first = plan_export(resolved(lp, ck), V4)
    assert first.command is not None and first.merged_path == ck.with_name("checkpoint-5-merged")
    assert first.command.argv[-2:] == ["--output_dir", str(ck.with_name(".checkpoint-5-merged.partial"))]
    merged = write_merged(first.merged_path)
    later = ck.stat().st_mtime + 10
    os.utime(merged / "model.safetensors", (later, later))
    assert plan_export(resolved(lp, ck), V4).command is None
    forced = plan_export(resolved(lp, ck), V4, force=True)
    assert forced.command is not None
    (merged / "tokenizer_config.json").unlink()  # an export killed before the tokenizer was saved
    assert plan_export(resolved(lp, ck), V4).command is not None


def test_disk_estimate_refuses_with_exact_figures(tmp_path):
    lp = profiles.load("4090d", [f"output_dir={tmp_path}"])
    found = disk.estimate(lp.profile, free=1024)
    assert found is not None and not found.fits
    assert found.total_bytes == found.checkpoint_bytes * found.checkpoints_kept + found.merged_bytes
    assert "not enough disk space" in disk.refusal(found)
    roomy = disk.estimate(lp.profile, free=10**15)
    assert roomy is not None and roomy.fits


def test_next_run_dir_counts_versions_as_numbers(tmp_path):
    for name in ("v2-20260101-000000", "v10-20260101-000000", "v9", "notes"):
        (tmp_path / name).mkdir()
    assert next_run_dir(tmp_path, datetime(2026, 1, 2, 3, 4, 5)) == tmp_path / "v11-20260102-030405"
    assert next_run_dir(tmp_path / "new", datetime(2026, 1, 2, 3, 4, 5)).name == "v0-20260102-030405"


def test_cache_key_changes_with_what_shapes_the_answers():
    base = profiles.load("cpu-demo").profile
    key = cache_key(base, ["a"])
    assert key == cache_key(base, ["a"])
    assert key != cache_key(base, ["b"])
    assert key != cache_key(profiles.load("cpu-demo", ["system=Be brief."]).profile, ["a"])
    assert key != cache_key(profiles.load("cpu-demo", ["infer.max_new_tokens=7"]).profile, ["a"])
    assert key != cache_key(profiles.load("cpu-demo", ["infer.repetition_penalty=1.1"]).profile, ["a"])


def test_atomic_write_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "first")
    with pytest.raises(SwiftkitError, match="pass --force"):
        atomic_write_text(target, "second", force=False)
    assert target.read_text() == "first"
    atomic_write_text(target, "third")
    assert target.read_text() == "third"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary files left


# ---------------------------------------------------------------- in-process CLI (fast, exact)
def test_cli_plan_prints_one_pasteable_line():
    result = CliRunner().invoke(cli, ["plan", "sft", "-p", "4090d"], catch_exceptions=False)
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("CUDA_VISIBLE_DEVICES=0 SWIFTKIT_REMOTE_CODE=off PYTHONPATH=")
    assert " swift sft --model Qwen/Qwen2.5-7B-Instruct " in lines[0]
    assert "# remote code: off - enforced in every ms-swift process by swiftkit's import guard" in result.stderr
    assert "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True swift sft" in lines[0]


def test_cli_unknown_profile_is_one_error_line():
    result = CliRunner().invoke(cli, ["plan", "sft", "-p", "4090x"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: unknown profile '4090x'. Did you mean '4090d'? Run 'swiftkit profiles list' to see the names, "
        "or give a path to a .yaml file."
    )


def test_cli_bad_override_lists_every_problem(tmp_path):
    result = CliRunner().invoke(
        cli, ["profiles", "show", "4090d", "--set", "train.lerning_rate=1", "--set", "lora.lora_rank=0"]
    )
    assert result.exit_code == 2  # a usage error: every problem is in the command line's --set values
    assert "--set train.lerning_rate=1: train.lerning_rate: unknown key; did you mean 'learning_rate'?" in result.stderr
    assert "--set lora.lora_rank=0: lora.lora_rank:" in result.stderr


def test_cli_profiles_show_is_yaml_of_the_resolved_profile():
    result = CliRunner().invoke(cli, ["profiles", "show", "4090d", "--set", "train.max_length=1024"])
    assert result.exit_code == 0
    shown = yaml.safe_load(result.stdout)
    assert shown["train"]["max_length"] == 1024 and shown["model"]["model"] == "Qwen/Qwen2.5-7B-Instruct"


def test_plan_and_dry_run_work_without_ms_swift(monkeypatch, tmp_path):
    """A light install (no [train] extra): plan renders for the newest supported ms-swift and says so."""
    from importlib import metadata

    real = metadata.version

    def no_swift(name: str) -> str:
        if name == "ms-swift":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", no_swift)
    monkeypatch.chdir(tmp_path)
    planned = CliRunner().invoke(cli, ["plan", "sft", "-p", "4090d"])
    assert planned.exit_code == 0, planned.output
    assert "ms-swift is not installed: rendered for ms-swift 4.6.0" in planned.stderr
    assert "--tuner_type lora" in planned.stdout
    dry = CliRunner().invoke(cli, ["train", "-p", "4090d", "--dry-run"])
    assert dry.exit_code == 0 and "swift sft" in dry.stdout
    real_run = CliRunner().invoke(cli, ["infer", "-p", "4090d", "--checkpoint", str(tmp_path)])
    assert real_run.exit_code == 1 and "ms-swift is not installed; install it with " in real_run.stderr


def test_answer_progress_counts_finished_result_lines_as_ms_swift_appends_them(tmp_path):
    """What `swiftkit train` shows as "self-replay: N/120 answers": whole lines only, each count once, capped."""
    results = tmp_path / "results.jsonl"
    heard: list[tuple[int, int]] = []
    assert complete_lines(results) == 0  # not written yet
    with ResultCounter(results, 5, lambda done, total: heard.append((done, total)), poll=0.01) as counter:
        results.write_text('{"response": "a"}\n{"response": "b"}\n{"resp')  # a batch, and half of the next line
        deadline = time.monotonic() + 5
        while counter.done < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        results.write_text('{"response": "a"}\n' * 6)  # more lines than prompts: never past the total
    assert heard == [(2, 5), (5, 5)]
