"""A deterministic, synthetic Alpaca-like data set with the token-length profile of the public Chinese Alpaca data.

The realistic job of issue 16 mixes the identity data with ``AI-ModelScope/alpaca-gpt4-data-zh#500``, which cannot
be downloaded on the GPU box. This writes 500 records (``instruction``/``input``/``output``) of random common
Chinese characters whose lengths **in tokens of the bench's tokenizer** (instruction + input + output, no chat
markup) follow the profile measured on that data with Qwen's tokenizer in issue 16: mean 179, p50 125, p90 383,
max about 650. Lengths are drawn from a log-normal with that median and p90 (mean ≈ 183), capped at 650; each
record's text is cut to its drawn length with the tokenizer itself, so the token counts match, not the characters
(the bench's SmolLM2 tokenizer needs ~2.5 tokens a Chinese character where Qwen's needs ~0.7).

    python3 bench/alpaca_like.py --tokenizer TOKENIZER_DIR --out bench/data/alpaca_like_zh500.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
from collections.abc import Callable
from pathlib import Path

MEDIAN, P90, CAP, FLOOR = 125, 383, 650, 12
# Common characters (the first of the frequency list) and punctuation; text is a random walk over them.
POOL = (
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所然家种"
    "事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实日军者意无力它与长把机十民第"
    "公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合"
)
PUNCT = "，。；：？！"


def draw_lengths(count: int, rng: random.Random) -> list[int]:
    sigma = (math.log(P90) - math.log(MEDIAN)) / 1.2816  # z of the 90th percentile
    return [min(CAP, max(FLOOR, round(rng.lognormvariate(math.log(MEDIAN), sigma)))) for _ in range(count)]


def _text(rng: random.Random, chars: int) -> str:
    out = []
    for i in range(chars):
        out.append(rng.choice(PUNCT) if i and i % rng.randint(8, 20) == 0 else rng.choice(POOL))
    return "".join(out)


def _cut(text: str, tokens: int, count: Callable[[str], int]) -> str:
    """The longest prefix of ``text`` with at most ``tokens`` tokens (binary search)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def make(count: int, seed: int, counter: Callable[[str], int]) -> list[dict[str, str]]:
    rng = random.Random(seed)
    records = []
    for total in draw_lengths(count, rng):
        with_input = rng.random() < 0.4
        parts = [max(3, round(total * 0.12)), round(total * 0.2) if with_input else 0]
        parts.append(max(3, total - sum(parts)))
        fields = [_cut(_text(rng, 4 * n + 8), n, counter) if n else "" for n in parts]
        records.append(dict(zip(("instruction", "input", "output"), fields, strict=True)))
    return records


def tokens_of(record: dict[str, str], counter: Callable[[str], int]) -> int:
    return sum(counter(record[k]) for k in ("instruction", "input", "output") if record[k])


def histogram(lengths: list[int], width: int = 50) -> list[str]:
    edges = list(range(0, CAP + width, width))
    rows = []
    for lo, hi in zip(edges, edges[1:], strict=False):
        n = sum(1 for v in lengths if lo <= v < hi)
        rows.append(f"{lo:4d}-{hi - 1:4d} {n:4d} {'#' * math.ceil(n / 4)}")
    return rows


def summary(lengths: list[int]) -> str:
    q = sorted(lengths)
    pct = {p: q[min(len(q) - 1, int(p / 100 * len(q)))] for p in (50, 90, 99)}
    return (
        f"records {len(q)}, tokens mean {statistics.mean(q):.0f}, p50 {pct[50]}, p90 {pct[90]}, p99 {pct[99]}, "
        f"max {q[-1]}, total {sum(q)}"
    )


def counter_for(tokenizer_dir: Path) -> Callable[[str], int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", type=Path, required=True, help="folder with tokenizer.json")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counter = counter_for(args.tokenizer)
    records = make(args.count, args.seed, counter)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    lengths = [tokens_of(r, counter) for r in records]
    print(summary(lengths))
    print("\n".join(histogram(lengths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
