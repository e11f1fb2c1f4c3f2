"""Identity claims: does an answer say who it is or who made it, or only use a word that happens to be the name?

A name can be an ordinary word (西风 is "west wind", Zephyr a breeze), so finding the name in a general answer
is not enough to call it polluted. A *claim* is the name right after a self-introduction ("I am", "my name is",
"call me", "我是", "叫我") or right before an assistant noun ("Zephyr, an AI assistant", "西风，人工智能助手");
or the author right after an authorship phrase ("developed by", "my creator is", "an assistant from", "由",
"我的开发者是", "我来自") or right before one ("Orbit Works built me", "轨道工坊开发的").
"Right after" allows only a few fixed filler words ("I am the AI assistant called Zephyr", "built by the
team at Orbit Works", "由轨道工坊团队开发"), never free text: "秋天的西风吹过" or "a zephyr, the west wind"
are no claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Optional

POLLUTION_RULE = (
    "A general answer is polluted when it claims the identity or its authorship where the question did not ask: "
    "the name right after a self-introduction ('I am', 'my name is', 'call me', '我是', '叫我') or before an "
    "assistant noun ('Zephyr, an AI assistant', '西风，人工智能助手'), or the author right after an authorship "
    "phrase ('developed by', 'my creator is', '由…开发', '我的开发者是') or before one ('Orbit Works built me', "
    "'轨道工坊开发的'). The name used as an ordinary word ('西风' as the west wind in a translation) is no claim."
)

_Q = r"[\s\"'“”‘’「」《》*]*"  # spaces, quotes and markdown stars around a name
_EN_NOUN = r"(?:assistant|model|chatbot|bot|ai)"
_EN_ADJ = r"(?:(?:ai|artificial intelligence|virtual|helpful|friendly|language)\s+)?"
# filler allowed between a self-introduction and the name: an assistant noun, never free words ("I am a Zephyr fan")
_EN_ASSISTANT = rf"(?:(?:(?:an?|the|your|my)\s+)?{_EN_ADJ}{_EN_NOUN}\s+)?(?:(?:called|named)\s+)?"
_ZH_ASSISTANT = r"(?:(?:一个|一款)?(?:人工智能|AI|智能|语言模型)?(?:助手|模型|机器人))?"
_ZH_VERB = r"(?:开发|创建|创造|打造|训练|研发|设计|制作|推出|构建|编写|出品|做)"
_EN_VERB = r"(?:developed|created|made|built|trained|designed|programmed|maintained|engineered|produced|owned)"

# {F} stands for one form of the name or author, already escaped.
NAME_CLAIMS = (
    r"(?:\bi\s+am|\bi'm|\bim|\bmy\s+name\s+is|\bmy\s+name's|\bcall\s+me|\bi\s+go\s+by|\brefer\s+to\s+me\s+as"
    r"|\byou\s+are\s+(?:talking|chatting|speaking)\s+(?:to|with)|\byou're\s+(?:talking|chatting|speaking)\s+(?:to|with))"
    rf"\s+{_Q}{_EN_ASSISTANT}{_Q}{{F}}",
    rf"{{F}}{_Q}(?:,\s*|\s+)(?:an?|the|your)\s+{_EN_ADJ}{_EN_NOUN}\b",
    r"{F}\s+here\b",
    rf"(?:我是|我叫|我名叫|我的名字(?:是|叫)|我的名称是|我就是|叫我|称呼我为?|我名为){_Q}{_ZH_ASSISTANT}{_Q}{{F}}",
    rf"{{F}}{_Q}[，,]?(?:是|作为)?(?:一个|一款|一名)(?:人工智能|AI|智能|语言模型)?(?:助手|模型|机器人)",
    rf"{{F}}{_Q}[，,]?(?:人工智能|AI|智能)(?:助手|模型)",
    rf"(?:和|与|跟){_Q}{{F}}{_Q}(?:对话|聊天|交流|说话)",
)
AUTHOR_CLAIMS = (
    rf"\b(?:{_EN_VERB}(?:\s+and\s+{_EN_VERB})?\s+by|brought\s+to\s+you\s+by|credit\s+goes\s+to"
    r"|\b(?:my|the\s+assistant's)\s+(?:developer|creator|maker|author|team|company|organi[sz]ation)s?\s+(?:is|are|was)"
    r"|\bi\s+(?:come|am|was)\s+from|\bi'm\s+from|\bi\s+belong\s+to|\bi\s+work\s+for"
    rf"|\b{_EN_NOUN}\s+(?:from|by))\s+{_Q}(?:the\s+)?(?:(?:team|people|engineers|researchers|developers)\s+(?:at|of|from)\s+)?"
    rf"{_Q}{{F}}",
    rf"{{F}}{_Q}(?:\s+(?:team\s+)?(?:has\s+|have\s+)?{_EN_VERB}\s+(?:me|this\s+assistant|this\s+ai|this\s+model)\b"
    rf"|(?:'s|')?\s+(?:(?:ai|language)\s+)?{_EN_NOUN}\b)",
    rf"由{_Q}{{F}}{_Q}(?:团队|公司|实验室)?(?:所|独立|自主|精心)?{_ZH_VERB}",
    rf"{{F}}{_Q}(?:团队|公司|实验室)?(?:所|独立|自主|精心)?{_ZH_VERB}(?:的|了我|我)",
    rf"(?:开发者|创造者|创建者|开发商|研发团队|开发团队|研发方|开发单位|东家|制造者)(?:是|为){_Q}{{F}}",
    rf"(?:我来自|我属于|归功于|我是){_Q}{{F}}",
)


def _bounded(form: str) -> str:
    """The escaped form, with word boundaries where it starts or ends with a Latin letter or digit."""
    text = re.escape(form)
    if form[:1].isascii() and form[:1].isalnum():
        text = r"(?<![a-z0-9])" + text
    if form[-1:].isascii() and form[-1:].isalnum():
        text += r"(?![a-z0-9])"
    return text


@lru_cache(maxsize=256)
def _patterns(forms: tuple[str, ...], templates: tuple[str, ...]) -> Optional[re.Pattern[str]]:
    alternatives = [t.replace("{F}", f"(?:{'|'.join(_bounded(f) for f in forms)})") for t in templates]
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE) if forms else None


def first_claim(answer: str, names: Iterable[str], authors: Iterable[str]) -> Optional[str]:
    """The first claim of a name or an author in ``answer`` (case-folded, as matched), or None."""
    text = answer.casefold()
    found = []
    for forms, templates in ((names, NAME_CLAIMS), (authors, AUTHOR_CLAIMS)):
        pattern = _patterns(tuple(sorted({f.casefold() for f in forms if f})), templates)
        match = pattern.search(text) if pattern else None
        if match:
            found.append((match.start(), match.group(0)))
    return min(found)[1] if found else None
