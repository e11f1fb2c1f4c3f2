"""Issue 20, row 5: a hostile profile or --set value is one `Error:` line naming the file and line, never a
traceback: ~1,200 nested `[` (2.4 KB) used to give a ~3,000-line RecursionError, a mapping used as a key a
TypeError."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

DEEP = "[" * 1200 + "]" * 1200
DEEP_BLOCK = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n"


@pytest.mark.parametrize(
    "text, where, problem",
    [
        (f"extends: cpu-demo\nsystem: {DEEP}\n", ":2:", "nested more than 32 levels deep"),
        (
            f"extends: cpu-demo\nswift_args:\n{''.join('  ' + line for line in DEEP_BLOCK.splitlines(True))}",
            ":",
            "nested more than 32",
        ),
        ("extends: cpu-demo\n? {a: 1}\n: 2\n", ":2:3:", "a key must be a plain name, not a mapping"),
        ("extends: cpu-demo\n[a, b]: 2\n", ":2:1:", "a key must be a plain name, not a list"),
        ("extends: cpu-demo\nsystem: &x hi\nname: *x\n", ":2:", "anchors and aliases"),
    ],
)
def test_a_malformed_profile_is_one_error_line(tmp_path: Path, text: str, where: str, problem: str):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    r = run_cli("plan", "sft", "-p", str(path))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"Error: {path}{where}"), r.stderr[-2000:]
    assert problem in r.stderr


@pytest.mark.parametrize(
    "override, problem",
    [(f"system={DEEP}", "nested more than 32 levels deep"), ("swift_args={{a: 1}: 2}", "not a mapping")],
)
def test_a_malformed_set_value_is_one_error_line(override: str, problem: str):
    r = run_cli("plan", "sft", "-p", "cpu-demo", "--set", override)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: --set ") and problem in r.stderr
