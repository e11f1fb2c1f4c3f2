"""The measured GPU profiles keep the article's optimisation, and the Liger switch renders only when on."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import sft_command

from swiftkit.config import profiles
from swiftkit.config.profiles import builtin_dir
from swiftkit.sizing import fit
from swiftkit.swift.version import flavor_for

ROOT = Path(__file__).resolve().parent.parent
V4 = flavor_for("4.6.0")


@pytest.mark.parametrize("name", ["4090d-fast", "h100"])
def test_same_optimizer_steps_and_schedule_as_the_article(name):
    article, fast = profiles.load("4090d").profile, profiles.load(name).profile
    a, f = article.train, fit.apply(fast)[0].train  # the batch swiftkit picks for the identity data
    assert a.per_device_train_batch_size * a.gradient_accumulation_steps == 16
    assert f.per_device_train_batch_size * f.gradient_accumulation_steps == 16
    assert (f.num_train_epochs, f.learning_rate, f.warmup_ratio, f.seed) == (
        a.num_train_epochs,
        a.learning_rate,
        a.warmup_ratio,
        a.seed,
    )
    assert fast.lora == article.lora and fast.model == article.model and fast.data == article.data
    assert fast.system == article.system and fast.identity == article.identity


@pytest.mark.parametrize("name", ["4090d-fast", "h100"])
def test_profile_files_extend_the_article_and_show_their_command(name):
    text = (builtin_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith(f"# swiftkit train --profile {name}")
    assert "extends: 4090d\n" in text
    description = profiles.load(name).profile.description
    assert description and "\n" not in description


def test_liger_renders_only_when_on():
    off = sft_command(profiles.load("h100").profile, V4).argv
    on = sft_command(profiles.load("h100", ["train.use_liger_kernel=true"]).profile, V4).argv
    assert "--use_liger_kernel" not in off
    assert on[on.index("--use_liger_kernel") + 1] == "true"
