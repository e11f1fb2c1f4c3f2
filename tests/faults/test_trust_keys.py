"""Issue 20, row 3: an API key never in argv. ``--api-key KEY`` put the key in swiftkit's own argv, readable by
every local user in ``ps`` for the server's whole life; now a literal key is refused with the ways that keep it
private ($SWIFTKIT_API_KEY, ``--api-key-file`` with mode 0600/0400, ``--ask-api-key``), and a real server started
with a key file has the key in no process's /proc/PID/cmdline (tests/faults/test_trust_serve.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import trained_profile

from swiftkit.cli import cli

KEY = "sk-trust-" + os.urandom(6).hex()


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    return trained_profile(tmp_path)


def key_file(folder: Path, mode: int) -> Path:
    path = folder / f"key-{mode:o}"
    path.write_text(KEY + "\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "--host", "0.0.0.0", "--dry-run", "--api-key", KEY],
        ["eval", "--endpoint", "http://127.0.0.1:9/v1", "--api-key", KEY],
    ],
)
def test_a_key_on_the_command_line_is_refused_with_the_ways(trained: Path, monkeypatch, args: list[str]):
    monkeypatch.delenv("SWIFTKIT_API_KEY", raising=False)
    result = CliRunner().invoke(cli, [args[0], "-p", str(trained), *args[1:]])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: an API key on the command line is visible to every user")
    for way in ("SWIFTKIT_API_KEY", "--api-key-file FILE", "chmod 600", "--ask-api-key"):
        assert way in result.output
    assert KEY not in result.output


@pytest.mark.parametrize("mode, ok", [(0o600, True), (0o400, True), (0o640, False), (0o644, False), (0o604, False)])
def test_a_key_file_must_be_private(trained: Path, tmp_path: Path, monkeypatch, mode: int, ok: bool):
    monkeypatch.delenv("SWIFTKIT_API_KEY", raising=False)
    path = key_file(tmp_path, mode)
    args = ["deploy", "-p", str(trained), "--host", "0.0.0.0", "--dry-run", "--api-key-file", str(path)]
    result = CliRunner().invoke(cli, args)
    assert KEY not in result.output
    if ok:
        assert result.exit_code == 0, result.output
        assert "SWIFTKIT_API_KEY=$SWIFTKIT_API_KEY swift deploy" in result.output
    else:
        assert result.exit_code == 1
        assert f"can be read by others (mode {mode:04o})" in result.output and f"chmod 600 {path}" in result.output
