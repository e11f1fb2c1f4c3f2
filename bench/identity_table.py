"""The identity table (issue 26): one row per trained run folder made by bench/cpu_demo_levers.sh, rescored with
the current rules. A run folder holds eval.json (`swiftkit eval --json`), train.log and runs/v*/logging.jsonl.

    python bench/identity_table.py LABEL=OUT/NAME:NAME:AUTHOR[:NAME_ZH:AUTHOR_ZH] ...

Identity % and pollution % are recomputed from the answers in eval.json with swiftkit/eval/score.py as it is now
(so reports written before the pollution rule changed are scored by the new rule; "old rule" is the name or author
anywhere in the answer); degenerate answers are counted for the adapter and the base model.
"""

from __future__ import annotations

import glob
import json
import re
import sys
from pathlib import Path

from swiftkit.config.schema import IdentitySection
from swiftkit.eval.score import degenerate, identity_pass, mentions, polluted


def row(label: str, folder: Path, who: IdentitySection) -> str:
    report = json.loads((folder / "eval.json").read_text(encoding="utf-8"))
    probes = [r for r in report["rows"] if r["set"] == "identity"]
    general = [r for r in report["rows"] if r["set"] == "general"]
    passed = sum(identity_pass(r["adapter"], r["asks"], who) for r in probes)
    dirty = sum(polluted(r["adapter"], who) for r in general)
    forms = sorted({f.casefold() for f in (who.name, who.name_zh, who.author, who.author_zh) if f})
    dirty_old = sum(mentions(r["adapter"], forms) for r in general)
    loops = sum(degenerate(r["adapter"]) for r in probes + general)
    base_loops = sum(degenerate(r["base"]) for r in probes + general)
    log = (folder / "train.log").read_text(encoding="utf-8", errors="replace")
    wall = re.search(r"Wall time:\s+([\d.]+) s \(training ([\d.]+) s\)", log)
    lines = [json.loads(x) for x in open(glob.glob(str(folder / "runs" / "v*" / "logging.jsonl"))[0])]
    steps = next(x["global_step"] for x in lines if "global_step" in x)
    shown = " / ".join(v for v in (who.name, who.author, who.name_zh, who.author_zh) if v)
    n, g = len(probes), len(general)
    return (
        f"| {label} | {shown} | {steps} | {wall.group(2) if wall else '-'} | {wall.group(1) if wall else '-'} | "
        f"{passed}/{n} {100 * passed / n:.1f}% | {dirty}/{g} {100 * dirty / g:.1f}% | {dirty_old}/{g} | "
        f"{loops} (base {base_loops}) |"
    )


def main(argv: list[str]) -> None:
    print("| run | identity | steps | train s | wall s | identity % | pollution % (claims) | old rule | degenerate |")
    print("|---|---|---|---|---|---|---|---|---|")
    for arg in argv:
        label, spec = arg.split("=", 1)
        folder, *names = spec.split(":")
        keys = ("name", "author", "name_zh", "author_zh")
        print(row(label, Path(folder), IdentitySection(**dict(zip(keys, names, strict=False)))))


if __name__ == "__main__":
    main(sys.argv[1:])
