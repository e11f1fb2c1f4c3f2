"""A model folder's Hugging Face chat template, and the system prompt it adds when a client sends none.

A merged model is used outside ms-swift (transformers, vLLM, Ollama) through this template. When a client sends no
system message, many templates add their own ("You are Qwen, created by Alibaba Cloud…", "…named SmolLM, trained by
Hugging Face"); if that differs from the system prompt the adapter was trained under, the model can answer as the
base model again. :func:`align` makes the training system prompt the template's default, checked by rendering.

Templates are rendered as transformers renders them (a sandboxed Jinja environment with the same helpers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import atomic_write_json, atomic_write_text

JINJA_FILE = "chat_template.jinja"
TOKENIZER_CONFIG = "tokenizer_config.json"
PROBE = "swiftkit-probe-question"
SENTINEL = "swiftkit-probe-system"
# ChatML with no system prompt of its own (ms-swift's ``chatml`` template): what a ChatML model trained with no system
# prompt gets instead of a template that would add its maker's
CHATML = (
    r"{%- for message in messages -%}"
    r"{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    r"{%- endfor -%}{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)
BEGIN = "{#- swiftkit: the system prompt training used is the default -#}\n"
END = "{#- swiftkit: end -#}\n"


def _environment() -> Any:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):  # transformers' {% generation %} tag, rendered as plain text here
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller: Any) -> str:
            return str(caller())

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def render(template: str, messages: list[dict[str, str]], tokens: Optional[dict[str, str]] = None) -> str:
    """The prompt text the template makes for ``messages`` (with the generation prompt), as transformers would."""
    import jinja2

    try:
        return str(
            _environment().from_string(template).render(messages=messages, add_generation_prompt=True, **(tokens or {}))
        )
    except jinja2.TemplateError as exc:
        raise SwiftkitError(f"the chat template cannot be rendered ({exc}).") from None


def default_system(template: str, tokens: Optional[dict[str, str]] = None) -> Optional[str]:
    """The system prompt the template adds when the conversation has none (None: it adds no system turn).

    Found by rendering: with a system message the prompt is ``prefix + system + suffix``; without one the template
    adds a default exactly when the prompt is ``prefix + default + suffix``."""
    user = [{"role": "user", "content": PROBE}]
    plain = render(template, user, tokens)
    with_system = render(template, [{"role": "system", "content": SENTINEL}, *user], tokens)
    if SENTINEL not in with_system:
        return None  # the template ignores system messages altogether
    prefix, suffix = with_system.split(SENTINEL, 1)
    if plain.startswith(prefix) and plain.endswith(suffix) and len(plain) >= len(prefix) + len(suffix):
        return plain[len(prefix) : len(plain) - len(suffix)]
    return None


def strip_preamble(template: str) -> str:
    """The template without a swiftkit preamble added earlier."""
    if template.startswith(BEGIN) and END in template:
        return template.split(END, 1)[1]
    return template


def is_chatml(template: str, tokens: Optional[dict[str, str]] = None) -> bool:
    """The template renders a conversation that has a system message exactly as plain ChatML does."""
    talk = [
        {"role": "system", "content": SENTINEL},
        {"role": "user", "content": PROBE},
        {"role": "assistant", "content": "swiftkit-probe-answer"},
        {"role": "user", "content": PROBE + "-2"},
    ]
    return render(template, talk, tokens) == render(CHATML, talk)


def with_default_system(template: str, system: str) -> str:
    """``template`` with ``system`` put first whenever the conversation has no system message of its own."""
    literal = json.dumps(system)  # ASCII with \\uXXXX escapes: a valid Jinja string literal for any text
    preamble = (
        BEGIN + "{%- if not messages or messages[0]['role'] != 'system' -%}\n"
        "{%- set messages = [{'role': 'system', 'content': " + literal + "}] + messages -%}\n"
        "{%- endif -%}\n" + END
    )
    return preamble + strip_preamble(template)


@dataclass(frozen=True)
class Alignment:
    """What :func:`align` found and did."""

    changed: bool
    before: Optional[str]  # the default system prompt the template had
    after: Optional[str]  # the one it has now
    note: str
    warning: bool = False


def _tokens(config: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            out[key] = value
    return out


def read(folder: Path) -> Optional[str]:
    """The folder's chat template (``chat_template.jinja`` first, as transformers reads it), or None."""
    return _read(folder)[0]


def _read(folder: Path) -> tuple[Optional[str], dict[str, Any]]:
    config_path = folder / TOKENIZER_CONFIG
    config: dict[str, Any] = {}
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except ValueError:
            raise SwiftkitError(f"{config_path} is not valid JSON; re-export with 'swiftkit export --force'.") from None
    jinja = folder / JINJA_FILE
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8"), config
    template = config.get("chat_template")
    return (template if isinstance(template, str) else None), config


def align(folder: Path, system: Optional[str]) -> Alignment:
    """Make ``system`` (the system prompt training used; None: none) the default of the folder's chat template.

    Writes ``chat_template.jinja`` and/or ``tokenizer_config.json`` atomically, only when the default differs."""
    template, config = _read(folder)
    if template is None:
        return Alignment(False, None, None, "no chat template in the model folder; nothing to align", warning=True)
    tokens = _tokens(config)
    before = default_system(template, tokens)
    if before == system:
        shown = "none" if system is None else repr(system)
        return Alignment(
            False, before, before, f"chat template default system prompt already matches training ({shown})"
        )
    if system is None and is_chatml(template, tokens):
        _write(folder, CHATML, config)
        return Alignment(
            True, before, None, f"chat template default system prompt {before!r} removed (training used none)"
        )
    if system is None:
        return Alignment(
            False,
            before,
            before,
            f"the chat template adds the system prompt {before!r} when a client sends none, but training used no "
            "system prompt; a template default cannot be removed safely. Send your own system message, or set "
            "'system:' in the profile and train again.",
            warning=True,
        )
    new = with_default_system(template, system)
    explicit = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROBE}]
    if default_system(new, tokens) != system or render(new, explicit, tokens) != render(template, explicit, tokens):
        return Alignment(
            False, before, before, "the chat template does not take a leading system message; left unchanged", True
        )
    _write(folder, new, config)
    return Alignment(True, before, system, f"chat template default system prompt set to {system!r} (was {before!r})")


def _write(folder: Path, new: str, config: dict[str, Any]) -> None:
    jinja = folder / JINJA_FILE
    if jinja.is_file():  # transformers prefers this file over tokenizer_config.json's entry
        atomic_write_text(jinja, new)
    else:
        atomic_write_json(folder / TOKENIZER_CONFIG, {**config, "chat_template": new})
