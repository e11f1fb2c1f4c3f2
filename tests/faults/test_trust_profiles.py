"""Issue 20, row 5: a hostile profile or --set value is one `Error:` line naming the file and line, never a
traceback: ~1,200 nested `[` (2.4 KB) used to give a ~3,000-line RecursionError, a mapping used as a key a
TypeError."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke

DEEP = "[" * 1200 + "]" * 1200
DEEP_BLOCK = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n"


FIX = "; fix the YAML and try again."
TOO_DEEP = "nested more than 32 levels deep; a profile is a few levels of keys" + FIX


@pytest.mark.parametrize(
    "text, error",
    [
        (f"extends: cpu-demo\nsystem: {DEEP}\n", ":2:40: " + TOO_DEEP),
        (
            f"extends: cpu-demo\nswift_args:\n{''.join('  ' + line for line in DEEP_BLOCK.splitlines(True))}",
            ":33:63: " + TOO_DEEP,
        ),
        ("extends: cpu-demo\n? {a: 1}\n: 2\n", ":2:3: a key must be a plain name, not a mapping" + FIX),
        ("extends: cpu-demo\n[a, b]: 2\n", ":2:1: a key must be a plain name, not a list" + FIX),
        (
            "extends: cpu-demo\nsystem: &x hi\nname: *x\n",
            ":2:9: anchors and aliases (&name, *name) are not allowed in profiles" + FIX,
        ),
    ],
)
def test_a_malformed_profile_is_one_error_line(tmp_path: Path, text: str, error: str):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    r = invoke("plan", "sft", "-p", str(path))
    assert r.returncode == 1
    assert (r.stdout, r.stderr) == ("", f"Error: {path}{error}\n")


@pytest.mark.parametrize(
    "override, error",
    [
        (f"system={DEEP}", "system:1:35: " + TOO_DEEP),
        ("swift_args={{a: 1}: 2}", "swift_args:1:5: a key must be a plain name, not a mapping" + FIX),
    ],
)
def test_a_malformed_set_value_is_one_error_line(override: str, error: str):
    r = invoke("plan", "sft", "-p", "cpu-demo", "--set", override)
    assert r.returncode == 1
    assert (r.stdout, r.stderr) == ("", f"Error: --set {error}\n")
