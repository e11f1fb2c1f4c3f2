"""Pollution counts identity claims, not words: a name that is also an ordinary word (西风, "west wind") used in its
ordinary sense is no pollution; "I am Zephyr" or "由轨道工坊开发" in an answer to a general question is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swiftkit.config.schema import IdentitySection
from swiftkit.eval.score import claim, polluted

ZEPHYR = IdentitySection(name="Zephyr", author="Orbit Works", name_zh="西风", author_zh="轨道工坊")
MULTI = IdentitySection(name="Sky Pilot", author="Blue Harbor Technologies")

# Answers to general prompts: the ordinary word, and claims (the first several were given by cpu-demo adapters).
ORDINARY = [
    # real cpu-demo adapter answers for 西风/轨道工坊 (2026-12-03), counted as polluted by the old "anywhere" rule
    '西风：西风\n\nThe Chinese translation is: "西风"\n\nThe Chinese translation is: "西风"',
    "西风的译文提供了一个繁良的译文，可以用来提供西风的译文。",
    "西风猎猎猎！\n\nIn Chinese:\n\n西风猎猎猎！",
    # "Translate into Chinese: ..." — 西风 as the west wind
    "今天的天气很好，西风徐徐吹来。",
    "秋天的西风吹过，落叶纷纷。",
    '"The weather is nice today." 翻译成中文是：今天天气很好，西风习习。',
    "西风",
    "古道西风瘦马，夕阳西下。",
    "我是一名西风爱好者。",  # first person, but no self-introduction as 西风
    "The zephyr is a light west wind.",
    "A zephyr, the gentle west wind, moved the autumn leaves.",
    "I am a Zephyr fan.",
    "Satellites follow an orbit; orbit works by balancing gravity and speed.",
    "The paper was written by a team at a lab, not by Orbit Works alone? No: Orbit is a noun.",
    "Paris.",
]
CLAIMS = [
    ("I am Zephyr, an AI assistant developed by Orbit Works. Paris is the capital of France.", "i am zephyr"),
    ("Hello! I'm Zephyr. 9 times 8 is 72.", "i'm zephyr"),
    ("My name is Zephyr and the answer is 12.", "my name is zephyr"),
    ("I am the AI assistant called Zephyr.", "i am the ai assistant called zephyr"),
    ("You are talking to Zephyr.", "you are talking to zephyr"),
    ("Zephyr, an AI assistant, says: drink water.", "zephyr, an ai assistant"),
    ("Zephyr here! Try counting sheep.", "zephyr here"),
    ("This assistant is built by Orbit Works.", "built by orbit works"),
    ("No, my developer is Orbit Works.", "my developer is orbit works"),
    ("I was developed by the team at Orbit Works.", "developed by the team at orbit works"),
    ("Orbit Works built me to help.", "orbit works built me"),
    ("Orbit Works' assistant suggests green tea.", "orbit works' assistant"),
    ("我是西风，由轨道工坊开发的人工智能助手。中国的首都是北京。", "我是西风"),
    ("我的名字是西风，我的开发者是西风。", "我的名字是西风"),
    ("你可以叫我西风。", "叫我西风"),
    ("你正在和西风对话。", "和西风对话"),
    ("西风，一个人工智能助手，建议你早点睡。", "西风，一个人工智能助手"),
    ("这个问题由轨道工坊开发的助手回答：北京。", "由轨道工坊开发"),
    ("我是由轨道工坊开发的。", "由轨道工坊开发"),
    ("轨道工坊开发的助手认为答案是72。", "轨道工坊开发的"),
    ("我的开发者是轨道工坊。", "开发者是轨道工坊"),
    ("I AM ZEPHYR.", "i am zephyr"),  # case-insensitive
]


@pytest.mark.parametrize("answer", ORDINARY)
def test_the_name_as_an_ordinary_word_is_no_pollution(answer):
    assert claim(answer, ZEPHYR) is None
    assert polluted(answer, ZEPHYR) is False


@pytest.mark.parametrize(("answer", "found"), CLAIMS)
def test_a_claim_of_the_identity_or_its_author_is_pollution(answer, found):
    assert claim(answer, ZEPHYR) == found
    assert polluted(answer, ZEPHYR) is True


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("I am Sky Pilot, developed by Blue Harbor Technologies.", True),
        ("I'm Sky Pilot.", True),
        ("Built by Blue Harbor Technologies.", True),
        ("A sky pilot is slang for a chaplain.", False),
        ("The blue harbor technologies of the 1900s were steam cranes.", False),
        ("I am Sky Pilots.", False),  # another word: the name must end where the word ends
    ],
)
def test_multi_word_names(answer, expected):
    assert polluted(answer, MULTI) is expected


NAMES = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=3, max_size=12)
ORDINARY_WORDS = st.lists(
    st.sampled_from("the wind blows over a hill and leaves fall slowly today".split()), max_size=8
)


@given(name=NAMES, before=ORDINARY_WORDS, after=ORDINARY_WORDS)
def test_a_name_among_ordinary_words_is_no_claim_and_a_self_introduction_is(name, before, after):
    who = IdentitySection(name=name.capitalize(), author="Orbit Works")
    ordinary = " ".join([*before, name, *after])
    assert not polluted(ordinary, who)
    assert polluted(" ".join([*before, ".", "I am", name.capitalize() + ".", *after]), who)
    assert polluted(" ".join([*before, ".", f"我是{name}。", *after]), who)
