"""What an eval report says answer by answer: each row's verdict, the worst answers to show on the terminal, and the
Markdown copy of a report (every prompt, answer and verdict) saved next to its JSON.

Rows are the ``rows`` of a local eval report (answer under ``adapter``) or of an endpoint report (under ``served``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swiftkit.config.schema import EvalSection
from swiftkit.eval.score import Side


@dataclass(frozen=True)
class Answers:
    """Which keys of a row hold the answer being judged and its degenerate flag."""

    answer: str
    degenerate: str


LOCAL = Answers("adapter", "adapter_degenerate")
SERVED = Answers("served", "degenerate")


def problems(row: dict[str, Any], keys: Answers) -> list[str]:
    """What is wrong with one answer: empty when it is fine."""
    found = []
    if row.get("set") == "identity" and row.get("pass") is False:
        asks = row.get("asks", "both")
        found.append("no name" if asks == "name" else "no author" if asks == "author" else "no name/author")
    if row.get("polluted"):
        found.append("polluted")
    if row.get(keys.degenerate):
        found.append("degenerate")
    return found


def verdict(row: dict[str, Any], keys: Answers) -> str:
    return ", ".join(problems(row, keys)) or "ok"


def worst(rows: list[dict[str, Any]], keys: Answers) -> list[dict[str, Any]]:
    """The rows with a problem: failed identity probes first, then polluted, then degenerate answers."""

    def rank(row: dict[str, Any]) -> int:
        found = problems(row, keys)
        return 0 if found[0].startswith("no ") else 1 if found[0] == "polluted" else 2

    return sorted((r for r in rows if problems(r, keys)), key=rank)


def short(text: str, width: int = 100) -> str:
    """One line of at most ``width`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def worst_lines(rows: list[dict[str, Any]], keys: Answers, limit: int = 8) -> list[str]:
    """Up to ``limit`` lines ``[verdict] (lang) prompt -> answer`` for the terminal, and how many more there are."""
    bad = worst(rows, keys)
    lines = [
        f"  [{verdict(r, keys)}] ({r.get('lang', '?')}) {short(str(r['prompt']), 50)} -> {short(str(r[keys.answer]))}"
        for r in bad[:limit]
    ]
    if len(bad) > limit:
        lines.append(f"  … and {len(bad) - limit} more")
    return lines


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") or " "


def markdown(title: str, scores: str, rows: list[dict[str, Any]], keys: Answers, notes: list[str]) -> str:
    """The whole report for reading: the score table, then every prompt with its answer and verdict."""
    out = [f"# {title}", "", *notes, "", "```", scores, "```", ""]
    bad = worst(rows, keys)
    out += [f"## Answers with a problem ({len(bad)})", ""]
    if bad:
        out += ["| verdict | set | lang | prompt | answer |", "|---|---|---|---|---|"]
        for r in bad:
            out.append(
                f"| {verdict(r, keys)} | {r.get('set', '')} | {r.get('lang', '')} | {_cell(r['prompt'])} "
                f"| {_cell(r[keys.answer])} |"
            )
    else:
        out.append("None.")
    out += ["", f"## Every answer ({len(rows)})", "", "| # | verdict | set | lang | prompt | answer |"]
    out.append("|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        out.append(
            f"| {i} | {verdict(r, keys)} | {r.get('set', '')} | {r.get('lang', '')} | {_cell(r['prompt'])} "
            f"| {_cell(r[keys.answer])} |"
        )
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Target:
    what: str
    value: float
    limit: float
    at_least: bool  # True: value >= limit passes; False: value <= limit passes

    @property
    def ok(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.what:<18} {100 * self.value:5.1f}%  (target {sign} {100 * self.limit:g}%)"


def targets(side: Side, goals: EvalSection) -> list[Target]:
    """The adapter's rates against the profile's eval targets."""
    return [
        Target("identity pass rate", side.identity_rate, goals.identity_min, True),
        Target("pollution rate", side.pollution_rate, goals.pollution_max, False),
        Target("degenerate answers", side.degenerate_rate, goals.degenerate_max, False),
    ]
