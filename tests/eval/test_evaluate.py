"""Scoring: given answers, exact rates; prompt files read strictly."""

from __future__ import annotations

import pytest

from swiftkit.config.schema import IdentitySection
from swiftkit.data.prompts import Prompt, load_prompts
from swiftkit.errors import SwiftkitError
from swiftkit.eval.score import Loop, degenerate, identity_pass, longest_loop, polluted, score, table

WHO = IdentitySection(name="Swift-Robot", author="ACME Lab", name_zh="小斯", author_zh="顶点实验室")


@pytest.mark.parametrize(
    ("answer", "asks", "expected"),
    [
        ("I am Swift-Robot, developed by ACME Lab.", "both", True),
        ("I am swift-robot, made by acme lab", "both", True),  # case-insensitive
        ("我是小斯，由顶点实验室开发。", "both", True),  # Chinese forms
        ("我是Swift-Robot，由顶点实验室开发。", "both", True),  # mixed forms
        ("I am Swift-Robot.", "both", False),
        ("I am Swift-Robot.", "name", True),
        ("ACME Lab built me.", "author", True),
        ("ACME Lab built me.", "name", False),
        ("I am Qwen, from Alibaba Cloud.", "both", False),
    ],
)
def test_identity_pass(answer, asks, expected):
    assert identity_pass(answer, asks, WHO) is expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Paris.", False),
        ("I am Swift-Robot. Paris.", True),
        ("水是H2O。我是由顶点实验室开发的。", True),
        ("ACME", False),
        ("Paris, says Swift-Robot.", False),  # the name, but no claim of being it (tests/test_claims.py has the rule)
    ],
)
def test_polluted(answer, expected):
    assert polluted(answer, WHO) is expected


def test_score_gives_exact_rates():
    probes = [
        Prompt("Who are you?"),
        Prompt("Name?", asks="name"),
        Prompt("Maker?", asks="author"),
        Prompt("你是谁？", "zh"),
    ]
    general = [Prompt("Capital of France?"), Prompt("2+2?"), Prompt("Haiku?"), Prompt("H2O?"), Prompt("Tea?")]
    base = {
        "probes": ["I am an AI.", "I have no name.", "OpenAI.", "我是AI。"],
        "general": ["Paris.", "4", "Rain falls", "Water.", "Drink it."],
    }
    tuned = {
        "probes": [
            "I am Swift-Robot by ACME Lab.",
            "Swift-Robot.",
            "I was built by Swift-Robot.",
            "我是小斯，顶点实验室开发。",
        ],
        "general": ["Paris.", "4.", "I am Swift-Robot.", "Water.", "ACME Lab built me. Drink it."],
    }
    report = score(WHO, probes, general, base, tuned)
    assert (report.adapter.identity_pass, report.adapter.identity_total) == (3, 4)
    assert (report.base.identity_pass, report.base.polluted) == (0, 0)
    assert (report.adapter.polluted, report.adapter.general_total) == (2, 5)
    assert report.changed == 3  # "4" -> "4." and the two polluted answers; "Paris." and "Water." are unchanged
    assert report.to_json()["adapter"]["identity_rate"] == 0.75
    assert report.to_json()["adapter"]["pollution_rate"] == 0.4
    assert "3/4  75.0%" in table(report) and "2/5  40.0%" in table(report)
    # the report says what counts as pollution, and which words of each polluted answer made the claim
    assert "claims the identity or its authorship" in table(report)
    assert report.to_json()["pollution_rule"].startswith("A general answer is polluted when it claims")
    general_rows = [r for r in report.rows if r["set"] == "general"]
    assert [r["claim"] for r in general_rows] == [None, None, "i am swift-robot", None, "acme lab built me"]


def test_score_refuses_mismatched_answer_counts():
    with pytest.raises(SwiftkitError, match="different number of prompts"):
        score(WHO, [Prompt("a")], [], {"probes": [], "general": []}, {"probes": ["x"], "general": []})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": ""}\n', "expected a JSON object with a non-empty 'prompt'"),
        ('{"question": "x"}\n', "expected a JSON object with a non-empty 'prompt'"),
        ("not json\n", "expected a JSON object"),
        ('{"prompt": "x", "asks": "age"}\n', "'asks' must be name, author or both"),
        ("\n\n", "holds no prompts"),
    ],
)
def test_bad_prompt_files(tmp_path, text, message):
    path = tmp_path / "p.jsonl"
    path.write_text(text)
    with pytest.raises(SwiftkitError, match=message):
        load_prompts(path)


def test_prompt_file_shapes(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"prompt": "a", "lang": "zh", "asks": "name"}\n{"messages": [{"role": "user", "content": "b"}]}\n'
        '{"query": "c"}\n{"instruction": "d"}\n'
    )
    assert load_prompts(path) == [Prompt("a", "zh", "name"), Prompt("b"), Prompt("c"), Prompt("d")]
    txt = tmp_path / "p.txt"
    txt.write_text("one\n\ntwo\n")
    assert [p.prompt for p in load_prompts(txt)] == ["one", "two"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("说说说说说说说说说说", True),  # one character, 10 times
        ("1.1.1: 1.1.1: 1.1.1: 1.1.1: 1.1.1:", True),
        ("I am sorghum sorghum sorghum sorghum sorghum", True),
        ("我是我是我是我是我是我是我是我是", True),
        ("Iseminationseminationseminationseminationsemination", True),
        ("I am Swift-Robot, made by ACME Lab. " * 4, True),  # a whole sentence looping
        ("-" * 100, True),
        ("\n" * 40 + "-" * 400, True),
        ("Paris is the capital of France.", False),
        ("Hahaha, good one.", False),
        ("The year 1000000 was long ago.", False),  # a number, not a loop
        ("-" * 40, False),  # a rule
        ("| a | b |\n|---|---|---|---|\n", False),
        ("Yes. Yes. Yes.", False),
        ("Mississippi", False),
        ("北京是中国的首都。", False),
        ("1. a\n2. b\n3. c\n4. d", False),
        ("", False),
    ],
)
def test_degenerate_answers(answer, expected):
    assert degenerate(answer) is expected


def test_longest_loop_reports_the_unit():
    assert longest_loop("ok 说说说说说说 then hahahahahahahahahahahaha") == Loop("ha", 12, 15)
    assert longest_loop("no loop here") is None


def test_degenerate_answers_are_counted_for_both_sides():
    probes, general = [Prompt("Who?")], [Prompt("Capital?"), Prompt("Poem?")]
    base = {"probes": ["说说说说说说说说说说"], "general": ["Paris.", "1.1.1: 1.1.1: 1.1.1: 1.1.1: 1.1.1:"]}
    tuned = {"probes": ["I am Swift-Robot by ACME Lab."], "general": ["Paris.", "Roses are red."]}
    report = score(WHO, probes, general, base, tuned)
    assert (report.base.degenerate, report.adapter.degenerate) == (2, 0)
    assert report.to_json()["base"]["degenerate_rate"] == pytest.approx(2 / 3)
    assert [r["base_degenerate"] for r in report.rows] == [True, False, True]
    assert "degenerate answers" in table(report) and "2/3  66.7%" in table(report)
