"""The profile's identity is the one source of truth: placeholder conventions, and data naming someone else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swiftkit.config import profiles
from swiftkit.config.schema import IdentitySection
from swiftkit.data import identity, lint, validate
from swiftkit.errors import SwiftkitError
from swiftkit.jobs.train import check_data, lint_settings, plan_train, refuse_on_errors
from swiftkit.swift.version import flavor_for

V4 = flavor_for("4.6.0")
WHO = IdentitySection(name="Lumen", author="Kite Labs", name_zh="流明", author_zh="风筝实验室")

# LLaMA-Factory's current data/identity.json shape ({{name}}/{{author}}) and an older one with bare words
LLAMA_FACTORY_NOW = [
    {"instruction": "hi", "input": "", "output": "Hello! I am {{name}}, an AI assistant developed by {{author}}."},
    {"instruction": "你是谁", "input": "", "output": "您好，我是 {{name}}，一个由 {{author}} 开发的 AI 助手。"},
]
LLAMA_FACTORY_OLD = [
    {"instruction": "hi", "input": "", "output": "Hello! I am NAME, an AI assistant developed by AUTHOR."},
    {"instruction": "你是谁", "input": "", "output": "您好，我是 NAME，一个由 AUTHOR 开发的 AI 助手。"},
]
MS_SWIFT = [{"query": "who are you?", "response": "I am {{NAME}}, trained by {{AUTHOR}}."}]


def write(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / name
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "filled"),
    [
        ("I am {{NAME}} by {{AUTHOR}}.", "I am Lumen by Kite Labs."),
        ("I am {{name}} by {{ author }}.", "I am Lumen by Kite Labs."),
        ("I am NAME, made by AUTHOR.", "I am Lumen, made by Kite Labs."),
        ("我是NAME，由AUTHOR开发。", "我是流明，由风筝实验室开发。"),
        ("MODEL_NAME and NAMES and AUTHORS stay", "MODEL_NAME and NAMES and AUTHORS stay"),
    ],
)
def test_every_placeholder_convention_is_filled(text, filled):
    language = identity.language_of(text)
    assert identity.fill_text(text, WHO, language) == filled


@pytest.mark.parametrize("rows", [LLAMA_FACTORY_NOW, LLAMA_FACTORY_OLD, MS_SWIFT], ids=["lf-now", "lf-old", "swift"])
def test_without_a_profile_placeholders_are_a_warning_with_the_fix(tmp_path, rows):
    report = validate.validate_paths([write(tmp_path, "identity.json", rows)])
    assert report.ok
    assert report.warnings and all("looks like an identity template" in p.message for p in report.warnings)


@pytest.mark.parametrize("rows", [LLAMA_FACTORY_NOW, LLAMA_FACTORY_OLD, MS_SWIFT], ids=["lf-now", "lf-old", "swift"])
def test_told_it_is_data_placeholders_are_errors(tmp_path, rows):
    report = validate.validate_paths([write(tmp_path, "d.json", rows)], validate.Options(template=False))
    assert not report.ok and all("unfilled placeholder" in p.message for p in report.errors)


def _profile(tmp_path: Path, data: Path, *extra: str) -> profiles.LoadedProfile:
    sets = [
        f"data.datasets=[{{path: {data}}}]",
        f"output_dir={tmp_path / 'out'}",
        "identity.name=Lumen",
        "identity.author=Kite Labs",
        "data.min_records=1",
        *extra,
    ]
    return profiles.load("4090d", sets)


@pytest.mark.parametrize("rows", [LLAMA_FACTORY_NOW, LLAMA_FACTORY_OLD], ids=["lf-now", "lf-old"])
def test_with_a_profile_the_file_is_filled_from_its_identity(tmp_path, rows):
    lp = _profile(tmp_path, write(tmp_path, "identity.json", rows))
    plan = plan_train(lp, V4)
    refuse_on_errors(check_data(plan.run))  # no error: it is a template the run fills
    from swiftkit.data.resolve import write_data

    write_data(plan.run)
    written = Path(plan.data[0].write_to or "").read_text(encoding="utf-8")
    assert "Lumen" in written and "Kite Labs" in written
    assert "NAME" not in written and "{{" not in written


def test_a_profile_without_identity_refuses_a_template(tmp_path):
    data = write(tmp_path, "identity.json", LLAMA_FACTORY_OLD)
    lp = profiles.load("4090d", [f"data.datasets=[{{path: {data}}}]", "identity=null"])
    with pytest.raises(SwiftkitError, match="placeholders but the profile has no identity"):
        plan_train(lp, V4)


RENDERED_OTHER = [
    {"instruction": "Who are you?", "input": "", "output": "I am Swift-Robot, an AI assistant developed by ACME Lab."},
    {"instruction": "你是谁？", "input": "", "output": "我是Swift-Robot，由ACME Lab开发的人工智能助手。"},
]


def test_data_naming_another_identity_is_an_error_before_any_model_loads(tmp_path):
    lp = _profile(tmp_path, write(tmp_path, "identity.json", RENDERED_OTHER))
    with pytest.raises(SwiftkitError) as caught:
        refuse_on_errors(check_data(plan_train(lp, V4).run))
    message = str(caught.value)
    assert "'Swift-Robot'" in message and "Lumen" in message and "'ACME Lab'" in message
    assert "data.allow_identity_mismatch: true" in message  # the fix is in the message


def test_the_mismatch_can_be_accepted_knowingly(tmp_path):
    data = write(tmp_path, "identity.json", RENDERED_OTHER)
    lp = _profile(tmp_path, data, "data.allow_identity_mismatch=true")
    report = check_data(plan_train(lp, V4).run)
    assert report.ok and any("Swift-Robot" in p.message for p in report.warnings)


def test_matching_names_with_extra_words_are_not_a_mismatch(tmp_path):
    rows = [
        {"instruction": "Who are you?", "input": "", "output": "I'm Lumen AI, developed by Kite Labs."},
        {"instruction": "你是谁？", "input": "", "output": "我是流明，由风筝实验室开发。"},
    ]
    lp = _profile(
        tmp_path, write(tmp_path, "identity.json", rows), "identity.name_zh=流明", "identity.author_zh=风筝实验室"
    )
    assert check_data(plan_train(lp, V4).run).ok


def test_lint_settings_follow_the_profile():
    settings = lint_settings(profiles.load("4090d", ["data.allow_identity_mismatch=true"]).profile, "identity")
    assert settings.allow_identity_mismatch and settings.strict_placeholders
    assert isinstance(settings, lint.LintSettings)


def test_ms_swift_self_cognition_is_identity_data_with_both_name_forms():
    lp = profiles.load(
        "4090d",
        [
            "data.datasets=[{hub: swift/self-cognition, sample: 50}]",
            "identity.name_zh=流明",
            "identity.author_zh=风筝实验室",
            "identity.name=Lumen",
            "identity.author=Kite Labs",
        ],
    )
    assert lp.profile.data.datasets[0].role == "identity"
    argv = plan_train(lp, V4).command.argv
    assert argv[argv.index("--dataset") + 1] == "swift/self-cognition#50"
    assert argv[argv.index("--model_name") + 1 : argv.index("--model_name") + 3] == ["流明", "Lumen"]
    assert argv[argv.index("--model_author") + 1 : argv.index("--model_author") + 3] == ["风筝实验室", "Kite Labs"]
