"""Self-replay trains only on real answers: loops and echoes of the prompt are left out (issue 26).

The examples are the embedded SmolLM2-135M's own answers to the shipped replay prompts (22 of 220 loop or echo);
trained on, they taught the adapter to answer identity probes the same way ("1. 1.1.1.1…", the probe said back).
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from swiftkit.config import profiles
from swiftkit.data.loops import echoes
from swiftkit.data.replay import cache_key, replay_path, to_alpaca, usable
from swiftkit.data.resolve import assemble_model
from swiftkit.jobs.replay import ensure_replay
from swiftkit.resources import path as resource_path
from swiftkit.swift.version import flavor_for

KEPT = [
    ("Which city is the capital of Japan?", "The capital of Japan is Tokyo."),
    ("How many millilitres are in 1.5 litres?", "1.5 litres are 1500 millilitres."),
    ("“猫”的英文单词是什么？", "“猫”的英文单词是 cat。"),  # repeats words of the prompt, not the prompt
    ("Say hi.", "Say hi. Hi!"),  # a head under 6 characters is never an echo
]
LEFT_OUT = [
    ("2小时是多少分钟？", "1. 1.1.1.1: 1.1.1.1: 1.1.1.1: 1.1.1.1: 1.1.1.1: 1.1.1.1: 1.1.1.1"),  # loop
    ("请把“请关上门”翻译成英语。", "请关上门说说说说说说说说说说说说说说说说说说说说"),  # loop of one character
    ("1.5升等于多少毫升？", "1.5升等于多少毫升？  The answer is 1.5."),  # echo, then an answer
    ("用一两句话介绍一下互联网。", "用一两句话介绍一下互联网是一种实现二进行的网络协议"),  # echo without the 。
    ("“可持续发展”是什么意思？请用一句话说明。", "“可持续发展”是什么意思？  请用一句说明："),  # first sentence
    ("What is DNA?", "   \n"),  # blank
]


def test_loops_echoes_and_blanks_are_left_out_real_answers_kept():
    prompts = [p for p, _ in KEPT + LEFT_OUT]
    answers = [a for _, a in KEPT + LEFT_OUT]
    records = to_alpaca(prompts, answers)
    assert [r["instruction"] for r in records] == [p for p, _ in KEPT]
    assert records[0] == {"instruction": KEPT[0][0], "input": "", "output": KEPT[0][1]}


SENTENCE = st.text(st.characters(blacklist_characters="。？！?!:：;；\n.", blacklist_categories=("Cs",)), max_size=40)


@given(SENTENCE.filter(lambda s: len("".join(s.split())) >= 6), st.text(max_size=40))
def test_a_prompt_said_back_first_is_an_echo(sentence, rest):
    """Any first sentence of 6+ characters, repeated at the start of the answer, is an echo, whatever follows."""
    prompt = sentence + "？ And more words."
    assert echoes(prompt, sentence + rest)
    assert not usable(prompt, sentence + rest)


def test_a_replay_file_made_before_the_filter_is_not_reused(tmp_path):
    """The cached file of an older swiftkit kept the loops: the new name skips it, and the new file is made from
    the cached base answers (no model run: the embedded model is not even converted in this cache)."""
    loaded = profiles.load("cpu-demo")
    profile = loaded.profile
    prompts_file = resource_path("prompts/replay.jsonl")
    prompts = [json.loads(line)["prompt"] for line in prompts_file.read_text(encoding="utf-8").splitlines()]
    key = cache_key(profile, prompts)
    new = replay_path(profile, prompts_file)
    old = new.with_name(f"replay-{key}.json")  # what swiftkit wrote before the filter
    assert new != old and new.name == f"replay-{key}-f1.json"
    answers = ["1. 1.1.1.1: 1.1.1.1: 1.1.1.1: 1.1.1.1: 1.1.1.1" if i % 10 == 0 else f"Answer {i}." for i in range(120)]
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps(to_alpaca_unfiltered(prompts, answers)), encoding="utf-8")
    cached = new.parents[2] / "answers" / new.parent.name / f"replay-{key}.json"
    cached.parent.mkdir(parents=True)
    cached.write_text(json.dumps({"prompts": prompts, "answers": answers}), encoding="utf-8")
    made, made_now = ensure_replay(assemble_model(loaded, None), flavor_for("4.6.0"), prompts_file)
    assert (made, made_now) == (new, True)
    outputs = [r["output"] for r in json.loads(new.read_text(encoding="utf-8"))]
    assert len(outputs) == 108 and not any(o.startswith("1. 1.1") for o in outputs)
    assert not (new.parents[2] / "models").exists()  # answered from the cache, no model made


def to_alpaca_unfiltered(prompts: list[str], answers: list[str]) -> list[dict[str, str]]:
    return [{"instruction": p, "input": "", "output": a} for p, a in zip(prompts, answers, strict=True)]
