"""`swiftkit init`: a project folder that works with no path editing, and swiftkit.yaml as the default profile."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from swiftkit.cli import cli
from swiftkit.config import profiles
from swiftkit.config.scaffold import scaffold
from swiftkit.errors import SwiftkitError
from swiftkit.jobs.train import resolve_train_run


def test_init_writes_a_project_that_loads_and_fills_its_identity(tmp_path, monkeypatch):
    made = scaffold(tmp_path / "bot", name="Lumen", author="Kite Labs", name_zh="流明", author_zh="风筝实验室")
    assert sorted(p.name for p in made.written) == [".gitignore", "identity.template.json", "swiftkit.yaml"]
    doc = yaml.safe_load((tmp_path / "bot" / "swiftkit.yaml").read_text(encoding="utf-8"))
    assert doc["extends"] == "cpu-demo" and doc["identity"]["name_zh"] == "流明"
    # no path back into site-packages: the template is the project's own, shipped prompts are builtin:
    entries = doc["data"]["datasets"]
    assert entries[0] == {"path": "identity.template.json"}
    assert entries[1]["replay"] == "builtin:prompts/replay.jsonl"
    monkeypatch.chdir(tmp_path / "bot")
    lp = profiles.load("swiftkit.yaml")
    assert lp.profile.identity is not None and lp.profile.identity.name == "Lumen"
    assert lp.profile.data.datasets[0].path == str((tmp_path / "bot" / "identity.template.json").resolve())
    assert "output/" in (tmp_path / "bot" / ".gitignore").read_text().splitlines()
    run = resolve_train_run(lp, tmp_path / "bot" / "output" / "v0-20260101-000000")
    assert run.data[0].write_to is not None  # the template is filled into the run folder


def test_init_never_overwrites(tmp_path):
    (tmp_path / "swiftkit.yaml").write_text("mine")
    with pytest.raises(SwiftkitError, match="never overwrites"):
        scaffold(tmp_path, name="A", author="B")
    assert (tmp_path / "swiftkit.yaml").read_text() == "mine"
    assert not (tmp_path / "identity.template.json").exists()  # refused before writing anything


def test_init_from_an_unknown_profile_suggests_one(tmp_path):
    with pytest.raises(SwiftkitError, match="Did you mean '4090d'"):
        scaffold(tmp_path, name="A", author="B", base="4090x")


def test_from_the_project_folder_commands_need_no_profile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    made = runner.invoke(cli, ["init", "--name", "Lumen", "--author", "Kite Labs", "--from", "4090d"])
    assert made.exit_code == 0, made.output
    assert "swiftkit validate && swiftkit train" in made.stdout
    planned = runner.invoke(cli, ["plan", "sft"])
    assert planned.exit_code == 0, planned.output
    assert "--model_name Lumen" in planned.stdout and "Qwen/Qwen2.5-7B-Instruct" in planned.stdout
    checked = runner.invoke(cli, ["validate", "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["files"][0]["records"] == 100
    dry = runner.invoke(cli, ["train", "--dry-run"])
    assert dry.exit_code == 0 and "output/v0-" in dry.stdout


def test_no_profile_anywhere_is_a_usage_error_naming_init(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWIFTKIT_PROFILE", raising=False)
    result = CliRunner().invoke(cli, ["plan", "sft"])
    assert result.exit_code == 2
    assert "run 'swiftkit init' to make swiftkit.yaml" in result.stderr


def test_profiles_cp_keeps_working_after_the_package_moves(tmp_path, monkeypatch):
    copied = profiles.copy_builtin("cpu-demo", tmp_path / "mine.yaml")
    text = copied.read_text(encoding="utf-8")
    assert "builtin:identity/identity.template.json" in text and "site-packages" not in text
    other = tmp_path / "moved"
    import shutil

    from swiftkit import resources

    shutil.copytree(resources.root(), other)
    monkeypatch.setattr(resources, "root", lambda: other)
    loaded = profiles.load(str(copied))
    assert loaded.profile.data.datasets[0].path == str(other / "identity" / "identity.template.json")
