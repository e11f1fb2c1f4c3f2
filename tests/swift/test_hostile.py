"""Hostile or odd input: every value reaches ms-swift as exactly one argument, and nothing crashes."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import yaml
from helpers import resolved, sft_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swiftkit.config import profiles
from swiftkit.errors import SwiftkitError
from swiftkit.swift import render
from swiftkit.swift.version import installed_flavor

pytest.importorskip("swift")
from swift_parser import parse  # noqa: E402

NASTY = [
    "-starts with a dash",
    "--looks-like-a-flag",
    "has spaces and 'single' and \"double\" quotes",
    "$(rm -rf /); `id`; a | b && c > /tmp/x",
    "中文 名字 🚀",
    "tab\tand\nnewline",
    "-1",
    "=equals=",
]


def hostile_profile(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / text.replace("/", "_").replace("\n", "_")[:30]
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{text.replace('/', '_')[:20]} data.json"
    data.write_text(json.dumps([{"instruction": "q", "input": "", "output": "a"}]), encoding="utf-8")
    doc = {
        "extends": "4090d",
        "system": text,
        "identity": {"name": text, "author": text},
        "data": {"datasets": [{"path": str(data)}]},
        "output_dir": str(folder / text.replace("/", "_")[:20]),
    }
    path = folder / "p.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("text", NASTY)
def test_hostile_values_round_trip_through_ms_swift_parser(tmp_path, text):
    lp = profiles.load(str(hostile_profile(tmp_path, text)))
    flavor = installed_flavor()
    commands = {
        "sft": sft_command(lp.profile, flavor),
        "infer": render.render_infer(resolved(lp, str(tmp_path / f"{text[:10]}/checkpoint-1")), flavor),
        "export": render.render_export(resolved(lp, str(tmp_path / f"{text[:10]}/checkpoint-1")), flavor),
    }
    ns, rest = parse("sft", commands["sft"].argv[2:])
    assert rest == []
    assert ns.system == text
    assert ns.model_name == [text] and ns.model_author == [text]
    assert [str(Path(p).resolve()) for p in ns.dataset] == [lp.profile.data.datasets[0].path]
    assert Path(ns.output_dir).resolve().parent == Path(lp.profile.output_dir).resolve()
    for kind in ("infer", "export"):
        ns, rest = parse(kind, commands[kind].argv[2:])
        assert rest == [] and ns.system in (text, None)
        assert Path(ns.adapters[0]).resolve() == (tmp_path / f"{text[:10]}/checkpoint-1").resolve()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_any_system_prompt_round_trips(text):
    lp = (
        profiles.load("4090d", [f"system={text}"])
        if text.strip() not in ("null", "~") and text.strip()[:1] not in "[{"
        else None
    )
    if lp is None:
        return
    ns, rest = parse("sft", sft_command(lp.profile, installed_flavor()).argv[2:])
    assert rest == [] and ns.system == lp.profile.system


KEYS = [
    "train.learning_rate",
    "train.max_length",
    "lora.lora_rank",
    "lora.target_modules",
    "system",
    "gpu",
    "gpu.device",
    "data.datasets",
    "data.datasets.0.sample",
    "model.model",
    "identity.name",
    "train",
    "train.torch_dtype",
    "extends",
    "x.y.z",
    "train.learnin_rate",
    "infer.temperature",
    "export.merge_lora",
]
VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "true",
            "false",
            "null",
            "~",
            "[]",
            "{}",
            "[a, b]",
            "{a: 1}",
            "-1",
            "0",
            "1e-4",
            "nan",
            "inf",
            "[unclosed",
            "{bad: ",
            "&a x",
            "*a",
            "!!python/object:os.system {}",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(overrides=st.lists(st.tuples(st.sampled_from(KEYS) | st.text(max_size=12), VALUES), max_size=4))
def test_overrides_never_crash(overrides):
    try:
        profiles.load("4090d", [f"{k}={v}" for k, v in overrides])
    except SwiftkitError as exc:
        assert str(exc)


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=10))
yaml_docs = st.recursive(
    yaml_scalars,
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "model",
                    "train",
                    "lora",
                    "data",
                    "datasets",
                    "path",
                    "hub",
                    "system",
                    "gpu",
                    "extends",
                    "identity",
                    "name",
                    "max_length",
                    "learning_rate",
                    "x",
                ]
            )
            | st.text(max_size=6),
            c,
            max_size=4,
        )
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=yaml_docs)
def test_profile_documents_never_crash(tmp_path, doc):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    try:
        profiles.load(str(path))
    except SwiftkitError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=string.printable, max_size=200))
def test_raw_yaml_text_never_crashes(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        profiles.load(str(path))
    except SwiftkitError as exc:
        assert str(exc)


def test_alias_bomb_is_refused_fast(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    with pytest.raises(SwiftkitError, match="anchors and aliases"):
        profiles.load(str(path))


def test_huge_profile_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("system: " + "x" * 300_000)
    with pytest.raises(SwiftkitError, match="larger than 256 KiB"):
        profiles.load(str(path))


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "[8]"])
def test_invalid_set_values_are_rejected_with_the_fields_rule(value):
    with pytest.raises(SwiftkitError) as info:
        profiles.load("4090d", [f"lora.lora_rank={value}"])
    assert "--set lora.lora_rank=" in str(info.value) and "lora.lora_rank:" in str(info.value)
