"""The newcomer's path outside the checkout: ./swiftkit.yaml is the default everywhere, hints name commands that
work for how swiftkit was installed, a name that is a common word is warned about, files get the umask's mode, the
export lock leaves nothing behind, the summary writes paths one way, and eval ends with a verdict."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from swiftkit import installed
from swiftkit.cli import cli
from swiftkit.cli.display import summary_text
from swiftkit.config import hints, profiles
from swiftkit.config.schema import EvalSection, IdentitySection
from swiftkit.data.common_words import common_word_notes
from swiftkit.eval.report import targets
from swiftkit.eval.score import Side
from swiftkit.runs.lock import exclusive, is_locked
from swiftkit.runs.progress import RunSummary


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty folder with a swiftkit.yaml, as `swiftkit init` leaves it, as the current folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWIFTKIT_PROFILE", raising=False)
    (tmp_path / "swiftkit.yaml").write_text(
        "extends: cpu-demo\nidentity: {name: Zed, author: Orbit}\noutput_dir: mine\n"
    )
    return tmp_path


@pytest.mark.parametrize("command", [["status"], ["logs"]])
def test_status_and_logs_use_the_swiftkit_yaml_here(project, command):
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1, result.output  # not 2 "give --profile": the profile was found and read
    assert "mine" in result.stderr  # its output_dir
    assert "train first with 'swiftkit train'" in result.stderr


def test_status_without_any_profile_says_how(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWIFTKIT_PROFILE", raising=False)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert "pass --profile NAME|PATH or --output-dir DIR" in result.stderr and "swiftkit.yaml" in result.stderr


def test_hints_name_the_profile_as_it_works_here(project):
    assert hints.command(profiles.load("swiftkit.yaml"), "eval") == "swiftkit eval"
    assert hints.command(profiles.load(str(project / "swiftkit.yaml")), "eval") == "swiftkit eval"
    assert hints.command(profiles.load("cpu-demo"), "export") == "swiftkit export --profile cpu-demo"
    (project / "other.yaml").write_text("extends: cpu-demo\n")
    assert hints.command(profiles.load("other.yaml"), "eval") == "swiftkit eval --profile other.yaml"


@pytest.mark.parametrize(
    ("prefix", "direct_url", "expected"),
    [
        ("/home/u/.local/share/pipx/venvs/swiftkit", {}, '\'pipx inject swiftkit "ms-swift<5,>=4.6" modelscope torch'),
        (
            "/home/u/.local/share/uv/tools/swiftkit",
            {"url": "file:///src/swiftkit", "dir_info": {}},
            "'uv tool install --force \"/src/swiftkit[train]\"'",
        ),
        ("/work/venv", {"url": "file:///src/swiftkit", "dir_info": {"editable": True}}, "'make install' in the"),
        ("/work/venv", {"url": "file:///dist/swiftkit-0.1-py3-none-any.whl", "archive_info": {}}, " -m pip install "),
    ],
)
def test_install_hints_fit_how_swiftkit_was_installed(monkeypatch, prefix, direct_url, expected):
    monkeypatch.setattr(sys, "prefix", prefix)
    monkeypatch.setattr(installed, "_direct_url", lambda: direct_url)
    hint = installed.install_extra()
    assert expected in hint
    assert 'install "swiftkit[train]"' not in hint  # swiftkit is not on the public index


def test_no_hint_says_make_install_or_swiftkit_train_from_the_index():
    root = Path(__file__).resolve().parents[2] / "swiftkit"
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert 'pip install "swiftkit[train]"' not in text, path
        assert "run 'make install'" not in text, path


@pytest.mark.parametrize(
    ("who", "warned"),
    [
        (IdentitySection(name="Zephyr", author="Orbit Works", name_zh="西风", author_zh="轨道工坊"), ["name_zh"]),
        (IdentitySection(name="Lumen", author="Kite Labs", name_zh="流明", author_zh="风筝实验室"), []),
        (IdentitySection(name="Echo", author="ACME Lab"), ["name"]),  # name_zh defaults to the name: said once
        (IdentitySection(name="Swift-Robot", author="ACME Lab", name_zh="小斯", author_zh="顶点实验室"), []),
    ],
)
def test_a_common_word_as_name_is_warned_about(who, warned):
    notes = common_word_notes(who)
    assert [n.split()[0].split(".")[1] for n in notes] == warned
    for note in notes:
        assert "polluted only when it claims the identity" in note and "read the general answers" in note


def test_init_and_validate_warn_about_a_common_word(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWIFTKIT_PROFILE", raising=False)
    args = ["init", "--name", "Zephyr", "--author", "Orbit Works", "--name-zh", "西风", "--author-zh", "轨道工坊"]
    made = CliRunner().invoke(cli, args)
    assert made.exit_code == 0, made.output
    assert "warning: identity.name_zh '西风' is a common Chinese word" in made.stderr
    checked = CliRunner().invoke(cli, ["validate"])
    assert checked.exit_code == 0, checked.output
    assert "warning: identity.name_zh '西风' is a common Chinese word" in checked.stderr


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_init_writes_files_with_the_umask_mode(tmp_path, monkeypatch, mask, mode):
    monkeypatch.chdir(tmp_path)
    old = os.umask(mask)
    try:
        made = CliRunner().invoke(cli, ["init", "bot", "--name", "Zed", "--author", "Orbit Works"])
    finally:
        os.umask(old)
    assert made.exit_code == 0, made.output
    for name in ("swiftkit.yaml", ".gitignore", "identity.template.json"):
        assert (tmp_path / "bot" / name).stat().st_mode & 0o777 == mode, name


def test_the_export_lock_leaves_no_file_and_a_waiter_still_gets_it(tmp_path):
    path = tmp_path / ".checkpoint-5-merged.lock"
    order: list[str] = []
    holding = threading.Event()

    def second() -> None:
        holding.wait()
        with exclusive(path, on_wait=lambda who: order.append("waited")):
            order.append("second has it")
            assert path.is_file() and is_locked(path)  # a third one would wait for this one
            time.sleep(0.2)

    waiter = threading.Thread(target=second)
    waiter.start()
    with exclusive(path):
        holding.set()
        time.sleep(0.5)  # the waiter opens the same file and waits on it
        order.append("first done")
    waiter.join(10)
    assert order == ["waited", "first done", "second has it"]
    assert not path.exists()


def test_the_summary_writes_the_run_and_its_checkpoint_the_same_way(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "output" / "v0-20260101-000000"
    summary = RunSummary(
        run_dir="output/v0-20260101-000000", status="ok", exit_code=0, checkpoint=str(run / "checkpoint-10")
    )
    text = summary_text(summary, [])
    assert "Run folder:   output/v0-20260101-000000\n" in text
    assert f"Checkpoint:   {Path('output/v0-20260101-000000/checkpoint-10')}\n" in text


def test_targets_give_a_verdict():
    goals = EvalSection(identity_min=0.9, pollution_max=0.05, degenerate_max=0.05)
    good = targets(Side(19, 20, 0, 100, 1), goals)
    assert all(t.ok for t in good)
    bad = targets(Side(7, 8, 5, 100, 0), goals)  # 87.5% identity, 5% pollution (at the limit)
    assert [t.ok for t in bad] == [False, True, True]
    assert bad[0].line() == "FAIL identity pass rate  87.5%  (target >= 90%)"
