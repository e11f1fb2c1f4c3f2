"""The merged model's chat template: its default system prompt is found by rendering and set to the one training
used, with explicit system messages still honoured; what cannot be done safely is left alone and said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swiftkit.jobs.export import trained_system
from swiftkit.model import chat_template as ct

SMOLLM = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QWEN = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role != 'system' %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
PLAIN = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
NO_SYSTEM = "{% for m in messages %}{% if m.role == 'user' %}USER: {{ m.content }}\n{% endif %}{% endfor %}A:"
USER = [{"role": "user", "content": "Who are you?"}]


@pytest.mark.parametrize(
    ("template", "default"),
    [
        (SMOLLM, "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
        (QWEN, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."),
        (PLAIN, None),
        (NO_SYSTEM, None),
    ],
)
def test_the_default_system_prompt_is_found_by_rendering(template, default):
    assert ct.default_system(template) == default


@pytest.mark.parametrize("template", [SMOLLM, QWEN, PLAIN])
@pytest.mark.parametrize(
    "system", ["You are a helpful assistant.", '你是"小斯"，由顶点实验室开发。\n{{ x }} {% raw %}', "It's O'Brien\\n"]
)
def test_a_new_default_renders_like_an_explicit_system_message(template, system):
    new = ct.with_default_system(template, system)
    assert ct.render(new, USER) == ct.render(template, [{"role": "system", "content": system}, *USER])
    explicit = [{"role": "system", "content": "Be brief."}, *USER]
    assert ct.render(new, explicit) == ct.render(template, explicit)  # a client's own system prompt still wins
    assert ct.default_system(ct.with_default_system(new, "Other.")) == "Other."  # applied again: replaced
    assert new.count(ct.BEGIN) == 1 and ct.with_default_system(new, "Other.").count(ct.BEGIN) == 1


def _folder(tmp_path: Path, template: str, as_file: bool = True) -> Path:
    config = {"bos_token": "<|im_start|>", "eos_token": {"content": "<|im_end|>"}}
    if as_file:
        (tmp_path / ct.JINJA_FILE).write_text(template)
    else:
        config["chat_template"] = template
    (tmp_path / ct.TOKENIZER_CONFIG).write_text(json.dumps(config))
    return tmp_path


@pytest.mark.parametrize("as_file", [True, False])
def test_align_writes_the_training_system_prompt_as_default(tmp_path, as_file):
    folder = _folder(tmp_path, SMOLLM, as_file)
    result = ct.align(folder, "You are Zed.")
    assert result.changed and not result.warning
    assert (result.before or "").startswith("You are a helpful AI assistant named SmolLM")
    template, config = ct._read(folder)
    assert template is not None and ct.default_system(template) == "You are Zed."
    assert config["eos_token"] == {"content": "<|im_end|>"}  # the rest of the config is kept
    assert not ct.align(folder, "You are Zed.").changed  # a second export finds it aligned


def test_align_leaves_a_matching_template_untouched(tmp_path):
    folder = _folder(tmp_path, QWEN)
    before = (folder / ct.JINJA_FILE).read_text()
    result = ct.align(folder, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
    assert not result.changed and "already matches" in result.note
    assert (folder / ct.JINJA_FILE).read_text() == before
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not ct.align(_folder(plain, PLAIN), None).changed  # no default, none trained: nothing to do


@pytest.mark.parametrize("template", [SMOLLM, QWEN])
def test_a_maker_default_that_training_did_not_have_is_removed(tmp_path, template):
    """SmolLM2's and Qwen2.5's own system text never becomes the exported model's default: a ChatML template
    becomes plain ChatML, which adds no system turn (as ms-swift's chatml template trained it)."""
    folder = _folder(tmp_path, template)
    result = ct.align(folder, None)
    assert result.changed and not result.warning and "removed" in result.note
    new = (folder / ct.JINJA_FILE).read_text()
    assert ct.default_system(new) is None
    assert ct.render(new, USER) == "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
    explicit = [{"role": "system", "content": "Be brief."}, *USER]
    assert ct.render(new, explicit) == ct.render(template, explicit)


def test_a_default_in_a_template_that_is_not_chatml_is_reported_not_removed(tmp_path):
    template = (
        "{% if messages[0].role != 'system' %}<<SYS>>Maker bot<</SYS>>\n{% endif %}{% for m in messages %}"
        "{% if m.role == 'system' %}<<SYS>>{{ m.content }}<</SYS>>\n{% else %}{{ m.role }}: {{ m.content }}\n"
        "{% endif %}{% endfor %}assistant:"
    )
    assert ct.default_system(template) == "Maker bot"
    folder = _folder(tmp_path, template)
    result = ct.align(folder, None)
    assert not result.changed and result.warning
    assert "training used no system prompt" in result.note


def test_a_template_without_system_turns_is_left_alone(tmp_path):
    folder = _folder(tmp_path, NO_SYSTEM)
    result = ct.align(folder, "You are Zed.")
    assert not result.changed and result.warning and "left unchanged" in result.note
    assert (folder / ct.JINJA_FILE).read_text() == NO_SYSTEM


def test_no_template_is_said(tmp_path):
    (tmp_path / ct.TOKENIZER_CONFIG).write_text("{}")
    assert ct.align(tmp_path, "x").warning


@pytest.mark.parametrize(
    ("log", "fallback", "expected"),
    [
        (
            "[INFO:swift] default_system: 'You are Zed, a helpful assistant.'\n",
            None,
            "You are Zed, a helpful assistant.",
        ),
        ("[INFO:swift] default_system: None\n", "profile", None),
        ("[INFO:swift] default_system: '你好\\n世界'\n", None, "你好\n世界"),
        ("no such line\n", "profile", "profile"),
        ("[INFO:swift] default_system: <object>\n", "profile", "profile"),
        ("[INFO:swift] default_system: 'a'\n[INFO:swift] default_system: 'b'\n", None, "b"),
    ],
)
def test_the_trained_system_prompt_is_read_from_ms_swift_log(log, fallback, expected):
    assert trained_system(log, fallback) == expected
