"""Regenerate swiftkit/resources/words/{en,zh}.txt, the common-word lists `swiftkit init`/`validate` check an
identity's name and author against (a name that is an ordinary word turns up in ordinary answers, and `swiftkit
eval` counts those as pollution).

    python bench/make_common_words.py TOKENIZER_JSON JIEBA_DICT

en: every whole-word token (" word", letters only, 3+ letters) of the SmolLM2 tokenizer (Apache-2.0; the embedded
model's tokenizer.json in $SWIFTKIT_CACHE/models/SmolLM2-135M-Instruct/): a 49k BPE vocabulary keeps a word whole
only when it is frequent in its training text. zh: the 2-4 character words of jieba's dict.txt (MIT; `pip install
jieba`) with a frequency of at least 200 (西风 "west wind" is 221).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "swiftkit" / "resources" / "words"
ZH_MIN_FREQ = 200


def english(tokenizer_json: Path) -> list[str]:
    vocab = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"]
    return sorted(
        {t[1:].casefold() for t in vocab if t.startswith("Ġ") and t[1:].isascii() and t[1:].isalpha() and len(t) >= 4}
    )


def chinese(dict_txt: Path) -> list[str]:
    words = []
    for line in dict_txt.read_text(encoding="utf-8").splitlines():
        word, freq, *_ = line.split()
        if int(freq) >= ZH_MIN_FREQ and 2 <= len(word) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in word):
            words.append(word)
    return sorted(set(words))


def main() -> None:
    tokenizer_json, dict_txt = map(Path, sys.argv[1:3])
    OUT.mkdir(parents=True, exist_ok=True)
    for lang, words, source in (
        ("en", english(tokenizer_json), "whole-word tokens of the SmolLM2 tokenizer (Apache-2.0)"),
        (
            "zh",
            chinese(dict_txt),
            f"jieba 0.42.1 dict.txt (MIT License, Copyright (c) 2013 Sun Junyi), frequency >= {ZH_MIN_FREQ}",
        ),
    ):
        header = f"# common {lang} words, one a line (casefolded); from {source}; bench/make_common_words.py\n"
        (OUT / f"{lang}.txt").write_text(header + "\n".join(words) + "\n", encoding="utf-8")
        print(f"{lang}: {len(words)} words")


if __name__ == "__main__":
    main()
