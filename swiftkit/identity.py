"""Identity placeholders: ``{{NAME}}``/``{{AUTHOR}}`` (ms-swift) and ``{{name}}``/``{{author}}`` (LLaMA-Factory)."""

from __future__ import annotations

import re
from typing import Any

from .models import IdentitySection

PLACEHOLDER = re.compile(r"\{\{\s*(NAME|AUTHOR|name|author)\s*\}\}")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def has_placeholder(text: str) -> bool:
    return bool(PLACEHOLDER.search(text))


def language_of(text: str) -> str:
    """'zh' when the text holds Chinese characters, else 'en'."""
    return "zh" if CJK.search(text) else "en"


def fill_text(text: str, identity: IdentitySection, language: str) -> str:
    name = (identity.name_zh or identity.name) if language == "zh" else identity.name
    author = (identity.author_zh or identity.author) if language == "zh" else identity.author

    def replace(match: re.Match[str]) -> str:
        return name if match.group(1).lower() == "name" else author

    return PLACEHOLDER.sub(replace, text)


def fill_record(record: Any, identity: IdentitySection) -> Any:
    """Fill every string in a record; the language is read from the whole record."""
    language = language_of(_all_text(record))

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return fill_text(value, identity, language)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(record)


def _all_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_all_text(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_all_text(v) for v in value.values())
    return ""
