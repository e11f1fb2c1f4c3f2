"""Identity placeholders in the three conventions users bring: ``{{NAME}}``/``{{AUTHOR}}`` (ms-swift),
``{{name}}``/``{{author}}`` (LLaMA-Factory), and the bare words ``NAME``/``AUTHOR`` (older LLaMA-Factory files)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from swiftkit.config.schema import IdentitySection
from swiftkit.data.readers import walk_strings

PLACEHOLDER = re.compile(r"\{\{\s*(NAME|AUTHOR|name|author)\s*\}\}")
# bare upper-case words, not part of a longer word, a {{…}} placeholder or an identifier such as MODEL_NAME
BARE = re.compile(r"(?<![A-Za-z0-9_{])(NAME|AUTHOR)(?![A-Za-z0-9_}])")
ANY_PLACEHOLDER = re.compile(f"{PLACEHOLDER.pattern}|{BARE.pattern}")


def placeholder_in(text: str) -> re.Match[str] | None:
    """The first placeholder of any convention in ``text``."""
    return ANY_PLACEHOLDER.search(text) if ("{{" in text or "NAME" in text or "AUTHOR" in text) else None


CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def language_of(text: str) -> str:
    """'zh' when the text holds Chinese characters, else 'en'."""
    return "zh" if CJK.search(text) else "en"


def fill_text(text: str, identity: IdentitySection, language: str) -> str:
    name = (identity.name_zh or identity.name) if language == "zh" else identity.name
    author = (identity.author_zh or identity.author) if language == "zh" else identity.author

    def replace(match: re.Match[str]) -> str:
        word = match.group(1) or match.group(2)
        return name if word.lower() == "name" else author

    return ANY_PLACEHOLDER.sub(replace, text)


def fill_record(record: Any, identity: IdentitySection) -> Any:
    """Fill every string in a record; the language is read from the whole record."""
    language = language_of(" ".join(text for _, text in walk_strings(record)))

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return fill_text(value, identity, language)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(record)


def render_file(
    template: Path,
    output: Path,
    *,
    name: str,
    author: str,
    name_zh: str | None = None,
    author_zh: str | None = None,
    force: bool = False,
) -> int:
    """Fill a template dataset into ``output`` (.json array or .jsonl); the template itself must be readable."""
    import json
    from pathlib import Path

    from swiftkit.data.readers import ReadError, read_records
    from swiftkit.errors import SwiftkitError
    from swiftkit.fsutil import atomic_write_text, file_problem

    template, output = Path(template), Path(output)
    problem = file_problem(template)
    if problem:
        raise SwiftkitError(f"template {template} {problem.split(';')[0]}; give a .json or .jsonl identity template.")
    if output.resolve() == template.resolve():
        raise SwiftkitError("the output would replace the template; choose another -o file.")
    if output.suffix.lower() not in (".json", ".jsonl"):
        raise SwiftkitError(f"{output}: write a .json or .jsonl file.")
    if output.exists() and not force:
        raise SwiftkitError(f"{output} already exists; pass --force to overwrite it.")
    who = IdentitySection(name=name, author=author, name_zh=name_zh, author_zh=author_zh)
    records = []
    for item in read_records(template):
        if isinstance(item, ReadError):
            raise SwiftkitError(f"{template}:{item.position}: {item.message}; run 'swiftkit validate {template}'.")
        records.append(fill_record(item[1], who))
    if not records:
        raise SwiftkitError(f"{template} holds no records.")
    if output.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    else:
        text = json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    atomic_write_text(output, text, force=force)
    return len(records)
