"""Docs that stay true: every command and Makefile target is in the README, and `make help` lists the targets."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import invoke, run_cli

from swiftkit.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "swiftkit") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix} {name}"
        out.append((full, command))
        if isinstance(command, click.Group):
            out += commands(command, full)
    return out


def targets() -> list[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    assert phony
    return phony.group(1).split()


@pytest.mark.parametrize(("name", "command"), commands(cli), ids=[n for n, _ in commands(cli)])
def test_every_command_is_in_the_readme_and_has_an_example(name, command):
    assert f"`{name}" in README, f"README does not mention `{name}`"
    assert "Example:" in (command.help or ""), f"{name} --help has no example"


@pytest.mark.parametrize("target", targets())
def test_every_make_target_is_in_the_readme(target):
    assert f"make {target}" in README, f"README does not mention `make {target}`"


def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = re.findall(r"^\s+make (\S+)", out, re.M)
    assert sorted(listed) == sorted(targets())


def test_readme_quick_start_has_exactly_the_two_commands():
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert [ln.split("#")[0].strip() for ln in block.strip().splitlines()] == ["make demo", "make test"]


@pytest.mark.parametrize(
    ("args", "code", "last_line"),
    [
        (["-h"], 0, None),
        (["plan", "--help"], 0, None),
        (["nope"], 2, "Error: No such command 'nope'."),
        (
            ["plan", "sft"],
            2,
            "Error: no profile: pass --profile NAME|PATH (or set SWIFTKIT_PROFILE), or run 'swiftkit init' to make "
            "swiftkit.yaml in this folder.",
        ),
        (
            ["train", "--profile", "cpu-demo", "--bogus"],
            2,
            "Error: No such option '--bogus'. Did you mean '--verbose'?",
        ),
        (
            ["plan", "sft", "--profile", "missing-profile"],
            1,
            "Error: unknown profile 'missing-profile'. Run 'swiftkit profiles list' to see the names, or give a path "
            "to a .yaml file.",
        ),
    ],
)
def test_exit_codes_and_the_error_line_users_read(args, code, last_line, tmp_path, monkeypatch):
    """In-process: the exit code and, for a refusal, the exact last line on stderr (it names the next step)."""
    monkeypatch.chdir(tmp_path)  # no ./swiftkit.yaml to fall back on
    monkeypatch.setenv("SWIFTKIT_PROFILE", "")
    result = CliRunner().invoke(cli, args, prog_name="swiftkit")
    assert result.exit_code == code, result.output
    if last_line is None:
        assert result.stderr == "" and result.stdout.startswith("Usage: swiftkit")
    else:
        assert result.stdout == "" and result.stderr.splitlines()[-1] == last_line


def test_swiftkit_profile_environment_variable():
    result = invoke("plan", "sft", env={"SWIFTKIT_PROFILE": "4090d"})
    assert result.returncode == 0, result.stderr
    assert "Qwen/Qwen2.5-7B-Instruct" in result.stdout


def test_version():
    from swiftkit import __version__

    assert run_cli("--version").stdout.strip() == f"swiftkit, version {__version__}"
