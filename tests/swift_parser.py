"""ms-swift's own argument parser (HfArgumentParser over its argument dataclasses), for acceptance tests."""

from __future__ import annotations

import argparse
from functools import cache


@cache
def parser_for(kind: str) -> argparse.ArgumentParser:
    from swift.arguments import DeployArguments, ExportArguments, InferArguments, SftArguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    classes = {"sft": SftArguments, "infer": InferArguments, "export": ExportArguments, "deploy": DeployArguments}
    with _patch_get_type_hints():
        return HfArgumentParser([classes[kind]])


def parse(kind: str, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse argv (without 'swift <kind>') exactly as ms-swift's parser does, without running __post_init__."""
    parser = parser_for(kind)
    return parser.parse_known_args(argv)
