"""Progress parsing on real ms-swift logging.jsonl lines, the summary, the manifest and the failure hints."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from swiftkit.cli.display import TrainDisplay, next_commands, plain_line, summary_text
from swiftkit.runs import progress

REAL_LOG = Path(__file__).parent / "data" / "logging.jsonl"  # ms-swift 4.6.0, tiny model, 7 steps, eval every 4


def test_real_log_lines_parse_into_events():
    events = progress.read_events(REAL_LOG.parent)
    assert [e.kind for e in events] == ["train", "train", "train", "eval", "train", "eval", "summary", "final"]
    first = events[0]
    assert (first.step, first.max_steps, first.loss, first.learning_rate) == (1, 7, 10.81671715, 9.505e-05)
    assert first.elapsed == "0s" and first.remaining == "2s" and first.memory_gib is None
    assert events[3].eval_loss == 10.80680561 and events[3].step == 4
    assert events[6].train_runtime == 3.0559 and events[6].train_loss == 10.81292561
    assert (events[7].last_checkpoint or "").endswith("checkpoint-7")
    assert (events[7].best_checkpoint or "").endswith("checkpoint-7")


def test_gpu_line_memory_and_string_numbers():
    event = progress.parse(
        {
            "loss": "0.7107",
            "learning_rate": "6.91e-05",
            "memory(GiB)": "15.63",
            "epoch": "5",
            "global_step/max_steps": "40/64",
            "elapsed_time": "4m 25s",
            "remaining_time": "2m 39s",
        }
    )
    assert (event.kind, event.step, event.max_steps, event.loss, event.memory_gib) == ("train", 40, 64, 0.7107, 15.63)
    assert plain_line(event) == "step 40/64  loss 0.7107  lr 6.91e-05  mem 15.6 GiB  elapsed 4m 25s  remaining 2m 39s"


def test_summary_of_the_real_log():
    s = progress.summarise(Path("run"), progress.read_events(REAL_LOG.parent), "ok", 0, wall_seconds=20.25)
    assert (s.steps, s.max_steps, s.final_loss, s.best_eval_loss) == (7, 7, 10.81085968, 10.80482006)
    assert s.losses == [(1, 10.81671715), (2, 10.80606747), (4, 10.81988335), (6, 10.81085968)]
    assert s.eval_losses == [(4, 10.80680561), (7, 10.80482006)]
    text = summary_text(s, next_commands("cpu-demo", in_checkout=True))
    assert "Final loss:   10.8109" in text and "Best eval:    10.8048" in text
    assert "Wall time:    20.2 s (training 3.1 s)" in text
    assert "make infer PROFILE=cpu-demo" in text and "make export PROFILE=cpu-demo" in text
    assert "swiftkit infer --profile cpu-demo --prompt 'Who are you?'" in text
    assert "Next:" not in summary_text(progress.summarise(Path("run"), [], "failed", 1), next_commands("x", True))


def test_next_commands_outside_a_checkout_and_for_the_default_profile():
    assert not any(c.startswith("make") for c in next_commands("4090d", in_checkout=False))
    assert next_commands("", in_checkout=True)[:2] == ["swiftkit infer --prompt 'Who are you?'", "swiftkit export"]
    assert next_commands("my dir/p.yaml", in_checkout=False)[1] == "swiftkit export --profile 'my dir/p.yaml'"


def test_follower_waits_for_complete_lines(tmp_path):
    log = tmp_path / "logging.jsonl"
    lines = REAL_LOG.read_text().splitlines(keepends=True)
    follower = progress.LogFollower(log)
    assert follower.poll() == []  # no file yet
    log.write_text(lines[0] + lines[1][:20])
    assert [e.step for e in follower.poll()] == [1]
    with open(log, "a") as handle:
        handle.write(lines[1][20:] + lines[2])
    assert [e.step for e in follower.poll()] == [2, 4]


def test_plain_display_prints_periodic_lines(tmp_path):
    log = tmp_path / "logging.jsonl"
    out = io.StringIO()
    log.write_text(REAL_LOG.read_text())
    with TrainDisplay(tmp_path, out=out, interval=3600, poll=0.01) as display:
        pass
    text = out.getvalue()
    assert "eval step 4: eval_loss 10.8068" in text
    assert text.strip().splitlines()[-1].startswith("step 6/7  loss 10.8109")  # the last train line is always shown
    assert len(display.events) == 8


@pytest.mark.parametrize(
    ("log_tail", "expected"),
    [
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "Out of GPU memory"),
        ("OSError: [Errno 28] No space left on device", "Disk full"),
        ('ValueError: Instruction "train" corresponds to no data!', "The data did not reach training"),
        ("ZeroDivisionError: division by zero", "The data did not reach training"),
        ("ValueError: remaining_argv: ['--train_type', 'lora']", "ms-swift did not accept a flag"),
        ("requests.exceptions.ConnectionError: Max retries exceeded with url", "The model hub was not reachable"),
        ("Killed", "The process was killed"),
        ("everything fine", None),
    ],
)
def test_failure_hints(log_tail, expected):
    hint = progress.hint_for(log_tail)
    assert (hint is None) if expected is None else (hint or "").startswith(expected)


def test_manifest_contents(tmp_path, repo_root):
    from swiftkit.config import profiles
    from swiftkit.data.prepare import PreparedEntry
    from swiftkit.runs import manifest
    from swiftkit.swift.render import Command

    lp = profiles.load("cpu-demo", ["train.max_length=300"])
    command = Command(["swift", "sft", "--max_length", "300"], {"CUDA_VISIBLE_DEVICES": ""})
    data = [
        PreparedEntry(
            source="datasets/identity.json",
            role="identity",
            argv_value="datasets/identity.json",
            records=60,
            used=60,
            sha256="ab" * 32,
        )
    ]
    from swiftkit.data.resolve import BatchChoice, ResolvedRun

    batch = BatchChoice(2, 4, 1, auto=True)
    fitted = lp.profile.model_copy(update={"system": "fitted"})  # the manifest stores the fitted profile
    run = ResolvedRun(lp, fitted, batch, "m", False, tmp_path, tmp_path, data)
    record = manifest.build(run, command)
    manifest.write(tmp_path, record)
    done = manifest.finish(tmp_path, record, 0, "ok", wall_seconds=12.5)
    saved = json.loads((tmp_path / "swiftkit-manifest.json").read_text())
    assert saved == done
    assert saved["profile"]["name"] == "cpu-demo" and saved["profile"]["overrides"] == ["train.max_length=300"]
    assert saved["profile"]["resolved"]["train"]["max_length"] == 300
    assert saved["profile"]["resolved"]["system"] == "fitted" and saved["profile"]["batch"] == batch.line()
    assert saved["argv"] == command.argv and saved["env"]["CUDA_VISIBLE_DEVICES"] == ""
    assert saved["versions"]["swiftkit"] and saved["versions"]["ms-swift"] and saved["versions"]["torch"]
    assert saved["datasets"][0]["sha256"] == "ab" * 32 and saved["datasets"][0]["used"] == 60
    assert (saved["status"], saved["exit_code"], saved["wall_seconds"]) == ("ok", 0, 12.5)
    assert saved["started"] <= saved["ended"]
