"""Prompt sets: identity probes and general prompts, as .jsonl (with optional lang/asks/topic) or plain text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import file_problem


@dataclass(frozen=True)
class Prompt:
    prompt: str
    lang: str = "en"
    asks: str = "both"  # identity probes: name | author | both
    topic: str = ""


def load_prompts(path: Path) -> list[Prompt]:
    """A prompts file: one prompt per line (.txt), or JSONL objects with 'prompt' (optional lang/asks/topic),
    'messages' (the last user message), 'query' or 'instruction'."""
    problem = file_problem(path)
    if problem:
        raise SwiftkitError(f"prompts file {path} {problem}.")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SwiftkitError(f"cannot read prompts file {path}: {exc}; give a UTF-8 .jsonl or .txt file.") from None
    prompts = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if Path(path).suffix != ".jsonl":
            prompts.append(Prompt(line.strip()))
            continue
        try:
            row = json.loads(line)
            prompt = _prompt_of(row)
            if not prompt.strip():
                raise ValueError
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            raise SwiftkitError(
                f"{path}:{number}: expected a JSON object with a non-empty 'prompt' (or 'messages', 'query', "
                "'instruction')."
            ) from None
        asks = row.get("asks", "both")
        if asks not in ("name", "author", "both"):
            raise SwiftkitError(f"{path}:{number}: 'asks' must be name, author or both, not {asks!r}.")
        prompts.append(Prompt(prompt, row.get("lang", "en"), asks, row.get("topic", "")))
    if not prompts:
        raise SwiftkitError(f"{path} holds no prompts; write one prompt per line.")
    return prompts


def _prompt_of(row: dict[str, Any]) -> str:
    if "messages" in row:
        return str([m for m in row["messages"] if m["role"] == "user"][-1]["content"])
    for key in ("prompt", "query", "instruction"):
        if isinstance(row.get(key), str):
            return str(row[key])
    raise KeyError("prompt")


def shipped_prompts(name: str) -> Path:
    """A prompt set shipped with swiftkit (identity probes, general prompts, self-replay prompts)."""
    from swiftkit import resources

    return resources.path(f"prompts/{name}")
