"""--help, plan and dry-runs never import the heavy stack (torch, transformers, swift)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import safetensors_bytes

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
        ["deploy", "--help"],
        ["eval", "--help"],
    ],
)
def test_no_heavy_imports(args):
    code = PROBE % json.dumps(list(HEAVY))
    result = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True)
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert line, result.stderr
    assert "EXIT=0" in result.stderr.splitlines(), result.stderr[-2000:]
    assert json.loads(line[-1][6:]) == [], f"{args} imported {line[-1]}"


def test_deploy_dry_run_is_light(tmp_path):
    ck = tmp_path / "out" / "v0-20260101-000000" / "checkpoint-5"
    ck.mkdir(parents=True)
    (ck / "adapter_config.json").write_text("{}")
    (ck / "adapter_model.safetensors").write_bytes(safetensors_bytes())  # complete: the lookup checks it
    args = ["deploy", "-p", "cpu-demo", "--set", f"output_dir={tmp_path / 'out'}", "--dry-run"]
    code = PROBE % json.dumps(list(HEAVY))
    result = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True)
    assert "EXIT=0" in result.stderr.splitlines(), result.stderr[-2000:]
    assert "swift deploy" in result.stdout
    assert json.loads([ln for ln in result.stderr.splitlines() if ln.startswith("HEAVY=")][-1][6:]) == []
