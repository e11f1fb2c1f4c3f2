"""The record shapes ms-swift 4.x accepts for SFT, and its column aliases: defined once, used by the schema
check (validate) and the identity lint.

Aliases are ms-swift's ``ResponsePreprocessor`` columns (swift/dataset/preprocessor/core.py), matched
case-insensitively; when several aliases of one column are present ms-swift uses none of them.
"""

from __future__ import annotations

FORMATS = ("alpaca", "messages", "sharegpt", "query-response")
QUERY_ALIASES = ("query", "prompt", "input", "instruction", "question", "problem")
RESPONSE_ALIASES = (
    "response",
    "answer",
    "output",
    "targets",
    "target",
    "answer_key",
    "answers",
    "solution",
    "text",
    "completion",
    "content",
)
SYSTEM_ALIASES = ("system", "system_prompt")
