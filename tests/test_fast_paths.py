"""--help, plan and dry-runs never import the heavy stack (torch, transformers, swift)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "swift", "modelscope", "datasets", "peft")
PROBE = """
import json, sys
from swiftkit.cli import main
sys.argv = ["swiftkit", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
print("EXIT=" + str(code), file=sys.stderr)
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%s))
print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--version"],
        ["plan", "sft", "--profile", "4090d"],
        ["plan", "sft", "--profile", "cpu-demo", "--set", "train.max_length=128"],
        ["train", "--profile", "4090d", "--dry-run"],
        [
            "plan",
            "sft",
            "--profile",
            "h100",
            "--set",
            "swift_args.lr_scheduler_type=cosine",
            "--set",
            "gpu.devices=[0,1]",
        ],
        ["profiles", "list"],
        ["profiles", "show", "4090d"],
    ],
)
def test_no_heavy_imports(args):
    code = PROBE % json.dumps(list(HEAVY))
    result = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True)
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert line, result.stderr
    assert "EXIT=0" in result.stderr.splitlines(), result.stderr[-2000:]
    assert json.loads(line[-1][6:]) == [], f"{args} imported {line[-1]}"
