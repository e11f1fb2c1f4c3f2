"""Is a name an ordinary word? A name or author that is a common word of its language (Zephyr's Chinese form
西风 is "west wind") turns up in ordinary answers, e.g. a translation. `swiftkit eval` counts such an answer as
polluted only when it claims the identity (eval/claims.py), but the adapter can still mix the word and the name
up, so the user is told. The word lists ship in resources/words/ (see bench/make_common_words.py).
"""

from __future__ import annotations

from functools import cache

from swiftkit import resources
from swiftkit.config.schema import IdentitySection

LANGUAGES = {"en": "English", "zh": "Chinese"}


@cache
def words(lang: str) -> frozenset[str]:
    text = resources.path(f"words/{lang}.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def language(text: str) -> str:
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def common_word_notes(identity: IdentitySection) -> list[str]:
    """One warning per identity field whose value is a common word of its language, saying what follows."""
    notes = []
    for field in ("name", "author", "name_zh", "author_zh"):
        value = getattr(identity, field)
        if not value or (field.endswith("_zh") and value == getattr(identity, field[:-3])):
            continue
        lang = language(value)
        if value.strip().casefold() in words(lang):
            notes.append(
                f"identity.{field} {value!r} is a common {LANGUAGES[lang]} word: ordinary answers use it (a "
                f"translation, a description). 'swiftkit eval' counts a general answer as polluted only when it claims "
                f"the identity (e.g. 'I am …', '由…开发'), not where the word is used as a word, but the adapter may "
                f"mix the two up: read the general answers in the eval report, or pick a rarer {field.split('_')[0]}."
            )
    return notes
