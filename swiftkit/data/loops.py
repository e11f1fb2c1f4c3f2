"""Answers that are not answers: an n-gram loop ("1.1.1.1…", "说说说说…") or the question said back.

Used twice: the eval counts loops in the base model's and the adapter's answers, and self-replay leaves such answers
out of the training data (trained on, they teach the model to loop and to echo the prompt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

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


SENTENCE_END = re.compile(r"[。？！?!:：;；\n]|\.(?=\s|$)")  # "1.5升" is not the end of a sentence


def echoes(prompt: str, answer: str, min_chars: int = 6) -> bool:
    """The answer starts by repeating the prompt's first sentence (at least ``min_chars`` characters, whitespace
    ignored): "1.5升等于多少毫升？ The answer is 1.5." for "1.5升等于多少毫升？"."""
    head = "".join(SENTENCE_END.split(prompt.strip(), maxsplit=1)[0].split())
    return len(head) >= min_chars and "".join(answer.split()).startswith(head)
