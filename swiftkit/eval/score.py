"""Did the run work? Identity probes and general prompts, answered by the base model and the adapter, scored.

Scores: identity pass rate (answers that give the profile's name and/or author, as each probe asks, in either
language's form), pollution rate (general answers that *claim* the new identity or authorship: see
:data:`POLLUTION_RULE`), degenerate answers (n-gram loops such as "说说说说…" or "1.1.1: 1.1.1: …"), and how many
general answers changed from the base model's. :func:`score` is pure: answers in, exact rates out.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from swiftkit.config.schema import IdentitySection
from swiftkit.data.prompts import Prompt
from swiftkit.errors import SwiftkitError
from swiftkit.eval import claims
from swiftkit.eval.claims import POLLUTION_RULE


def _forms(*values: Optional[str]) -> list[str]:
    return sorted({v.casefold() for v in values if v})


def mentions(answer: str, forms: list[str]) -> bool:
    text = answer.casefold()
    return any(form in text for form in forms)


def identity_pass(answer: str, asks: str, identity: IdentitySection) -> bool:
    name = mentions(answer, _forms(identity.name, identity.name_zh))
    author = mentions(answer, _forms(identity.author, identity.author_zh))
    return {"name": name, "author": author, "both": name and author}[asks]


def polluted(answer: str, identity: IdentitySection) -> bool:
    """A general answer that claims the identity or its authorship (:data:`POLLUTION_RULE`)."""
    return claim(answer, identity) is not None


def claim(answer: str, identity: IdentitySection) -> Optional[str]:
    """The first identity or authorship claim in ``answer`` ("I am Zephyr", "由轨道工坊开发"), or None."""
    return claims.first_claim(
        answer, _forms(identity.name, identity.name_zh), _forms(identity.author, identity.author_zh)
    )


def same_answer(a: str, b: str) -> bool:
    """Equal up to whitespace."""
    return " ".join(a.split()) == " ".join(b.split())


LOOP = re.compile(r"(.{1,80}?)\1{3,}", re.S)  # a unit of up to 80 characters, then at least 3 more copies of it


@dataclass(frozen=True)
class Loop:
    """A unit of text repeated back to back: ``unit`` * ``repeats`` starting at ``start``."""

    unit: str
    repeats: int
    start: int

    @property
    def chars(self) -> int:
        return len(self.unit) * self.repeats


def longest_loop(text: str) -> Optional[Loop]:
    """The run of back-to-back copies of one unit (≥ 4 copies) that covers the most characters."""
    best: Optional[Loop] = None
    for match in LOOP.finditer(text):
        unit = match.group(1)
        loop = Loop(unit, len(match.group(0)) // len(unit), match.start())
        if best is None or loop.chars > best.chars:
            best = loop
    return best


def degenerate(answer: str, min_chars: int = 24, min_repeats: int = 8) -> bool:
    """An n-gram loop: a unit with a letter (any script) repeated to cover ``min_chars`` characters, or repeated
    ``min_repeats`` times ("说说说说说说说说"); a unit of digits only must cover ``min_chars`` ("1000000" is a number);
    one of punctuation or spaces only must cover twice that ("-----" rules and blank lines are formatting)."""
    loop = longest_loop(answer)
    if loop is None:
        return False
    if any(ch.isalpha() for ch in loop.unit):
        return loop.chars >= min_chars or loop.repeats >= min_repeats
    if any(ch.isdigit() for ch in loop.unit):
        return loop.chars >= min_chars
    return loop.chars >= 2 * min_chars


@dataclass
class Side:
    """Scores of one model (base or adapter)."""

    identity_pass: int
    identity_total: int
    polluted: int
    general_total: int
    degenerate: int = 0  # answers (probes and general) that fall into an n-gram loop

    @property
    def identity_rate(self) -> float:
        return self.identity_pass / self.identity_total if self.identity_total else 0.0

    @property
    def pollution_rate(self) -> float:
        return self.polluted / self.general_total if self.general_total else 0.0

    @property
    def answers_total(self) -> int:
        return self.identity_total + self.general_total

    @property
    def degenerate_rate(self) -> float:
        return self.degenerate / self.answers_total if self.answers_total else 0.0


@dataclass
class EvalReport:
    base: Side
    adapter: Side
    changed: int
    general_total: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for side in ("base", "adapter"):
            data[side]["identity_rate"] = getattr(self, side).identity_rate
            data[side]["pollution_rate"] = getattr(self, side).pollution_rate
            data[side]["degenerate_rate"] = getattr(self, side).degenerate_rate
        data["changed_rate"] = self.changed / self.general_total if self.general_total else 0.0
        data["pollution_rule"] = POLLUTION_RULE
        return data


def side(identity: IdentitySection, probes: list[Prompt], general: list[Prompt], answers: dict[str, list[str]]) -> Side:
    """One model's scores; ``answers``: {"probes": [...], "general": [...]} in the prompts' order."""
    if len(answers["probes"]) != len(probes) or len(answers["general"]) != len(general):
        raise SwiftkitError("the model answered a different number of prompts than were asked.")
    passed = [identity_pass(a, p.asks, identity) for p, a in zip(probes, answers["probes"], strict=True)]
    dirty = [polluted(a, identity) for a in answers["general"]]
    loops = [degenerate(a) for a in answers["probes"] + answers["general"]]
    return Side(sum(passed), len(probes), sum(dirty), len(general), sum(loops))


def score(
    identity: IdentitySection,
    probes: list[Prompt],
    general: list[Prompt],
    base_answers: dict[str, list[str]],
    adapter_answers: dict[str, list[str]],
) -> EvalReport:
    """``*_answers``: {"probes": [...], "general": [...]} in the prompts' order."""
    for name, answers in (("base", base_answers), ("adapter", adapter_answers)):
        if len(answers["probes"]) != len(probes) or len(answers["general"]) != len(general):
            raise SwiftkitError(f"the {name} model answered a different number of prompts than were asked.")
    rows: list[dict[str, Any]] = []
    sides = {
        name: side(identity, probes, general, answers)
        for name, answers in (("base", base_answers), ("adapter", adapter_answers))
    }
    for p, base, adapter in zip(probes, base_answers["probes"], adapter_answers["probes"], strict=True):
        rows.append(
            {
                "set": "identity",
                "prompt": p.prompt,
                "lang": p.lang,
                "asks": p.asks,
                "base": base,
                "adapter": adapter,
                "pass": identity_pass(adapter, p.asks, identity),
                "base_degenerate": degenerate(base),
                "adapter_degenerate": degenerate(adapter),
            }
        )
    changed = 0
    for p, base, adapter in zip(general, base_answers["general"], adapter_answers["general"], strict=True):
        differs = not same_answer(base, adapter)
        changed += differs
        rows.append(
            {
                "set": "general",
                "prompt": p.prompt,
                "lang": p.lang,
                "topic": p.topic,
                "base": base,
                "adapter": adapter,
                "polluted": polluted(adapter, identity),
                "claim": claim(adapter, identity),
                "changed": differs,
                "base_degenerate": degenerate(base),
                "adapter_degenerate": degenerate(adapter),
            }
        )
    return EvalReport(sides["base"], sides["adapter"], changed, len(general), rows)


def table(report: EvalReport) -> str:
    """The small text table `swiftkit eval` prints."""
    b, a = report.base, report.adapter
    lines = [
        f"{'':24}{'base':>14}{'adapter':>14}",
        f"{'identity pass rate':24}{_pct(b.identity_pass, b.identity_total):>14}"
        f"{_pct(a.identity_pass, a.identity_total):>14}",
        f"{'pollution rate':24}{_pct(b.polluted, b.general_total):>14}{_pct(a.polluted, a.general_total):>14}",
        f"{'degenerate answers':24}{_pct(b.degenerate, b.answers_total):>14}{_pct(a.degenerate, a.answers_total):>14}",
        f"{'general answers changed':24}{'':>14}{_pct(report.changed, report.general_total):>14}",
        "",
        *textwrap.wrap(POLLUTION_RULE, 100),
    ]
    return "\n".join(lines)


def _pct(n: int, total: int) -> str:
    return f"{n}/{total} {100 * n / total:5.1f}%" if total else "-"
