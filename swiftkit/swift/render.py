"""Profile -> the exact ``swift sft / infer / export`` argv and environment, for the installed ms-swift.

Argv is always a list; :meth:`Command.display` quotes it for a shell only for showing.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from swiftkit.config.schema import AUTO, Profile
from swiftkit.data.resolve import ResolvedRun
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import shown_path
from swiftkit.layout import is_merged
from swiftkit.model.locate import model_path
from swiftkit.swift.version import SwiftFlavor


@dataclass(frozen=True)
class Command:
    """One ms-swift invocation: argv (a list, never a shell string) and the environment it adds."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def display(self) -> str:
        """One pasteable shell line: VAR=value ... swift sub --flag value ..."""
        return shlex.join([f"{k}={v}" for k, v in self.env.items()] + self.argv)


def fmt(value: object) -> str:
    """ms-swift's argparse spelling of a value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


class ArgvBuilder:
    """Collects ``--flag value`` pairs; a value starting with '-' is attached as ``--flag=value``."""

    def __init__(self, *head: str) -> None:
        self.argv = list(head)

    def add(self, flag: str, value: object) -> ArgvBuilder:
        if value is None:
            return self
        text = fmt(value)
        if text.startswith("-"):
            self.argv.append(f"{flag}={text}")  # argparse would read '-…' as another option
        else:
            self.argv += [flag, text]
        return self

    def add_list(self, flag: str, values: Iterable[object]) -> ArgvBuilder:
        items = [fmt(v) for v in values]
        if len(items) == 1:
            return self.add(flag, items[0])
        if any(item.startswith("-") for item in items):
            raise SwiftkitError(
                f"{flag} takes several values and one of them starts with '-' ({items}); argparse cannot pass that. "
                "Remove the leading '-'."
            )
        if items:
            self.argv += [flag, *items]
        return self


def environment(profile: Profile) -> dict[str, str]:
    """CUDA_VISIBLE_DEVICES pins the profile's GPU(s); a CPU profile hides every GPU. For infer and export."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in profile.gpu.indices) if profile.gpu else ""}


def launch_environment(profile: Profile) -> dict[str, str]:
    """What ms-swift's launcher reads for training: the GPUs, and NPROC_PER_NODE / NNODES / NODE_RANK /
    MASTER_ADDR / MASTER_PORT when there are several GPUs or nodes (then `swift sft` starts torchrun, one
    process a GPU). With one GPU on one node none of them is set: a plain single process."""
    env = environment(profile)
    if profile.gpu is not None and ALLOC_CONF not in os.environ:
        # Batches of varying length fragment PyTorch's caching allocator: on the mixed identity + Alpaca job one
        # H200 peaked at 77.9 GiB without this and 68.0 GiB with it (bench/results). A user's own setting wins.
        env[ALLOC_CONF] = "expandable_segments:True"
    launch = profile.launch
    if profile.gpus_per_node > 1 or launch.nnodes > 1:
        env["NPROC_PER_NODE"] = str(profile.gpus_per_node)
    if launch.nnodes > 1:
        env["NNODES"] = str(launch.nnodes)
        env["NODE_RANK"] = str(launch.node_rank)
    if launch.master_addr is not None and launch.nnodes > 1:
        env["MASTER_ADDR"] = launch.master_addr
    if launch.master_port is not None and "NPROC_PER_NODE" in env:
        env["MASTER_PORT"] = str(launch.master_port)
    return env


ALLOC_CONF = "PYTORCH_CUDA_ALLOC_CONF"

# Flags a profile field sets: swift_args may not set them too (one place decides each value).
OWNED: dict[str, str] = {
    "model": "model.model",
    "model_type": "model.model_type",
    "template": "model.template",
    "external_plugins": "model.trust_remote_code",
    "check_model": "model.model",
    "tuner_type": "lora.tuner_type",
    "train_type": "lora.tuner_type",
    "use_dora": "lora.use_dora",
    "lora_rank": "lora.lora_rank",
    "lora_alpha": "lora.lora_alpha",
    "lora_dropout": "lora.lora_dropout",
    "target_modules": "lora.target_modules",
    "torch_dtype": "train.torch_dtype",
    "dataset": "data.datasets",
    "num_train_epochs": "train.num_train_epochs",
    "per_device_train_batch_size": "train.per_device_train_batch_size",
    "per_device_eval_batch_size": "train.per_device_eval_batch_size",
    "gradient_accumulation_steps": "train.gradient_accumulation_steps",
    "learning_rate": "train.learning_rate",
    "warmup_ratio": "train.warmup_ratio",
    "max_length": "train.max_length",
    "gradient_checkpointing": "train.gradient_checkpointing",
    "attn_impl": "train.attn_impl",
    "eval_steps": "train.eval_steps",
    "save_steps": "train.save_steps",
    "save_total_limit": "train.save_total_limit",
    "logging_steps": "train.logging_steps",
    "dataloader_num_workers": "train.dataloader_num_workers",
    "use_liger_kernel": "train.use_liger_kernel",
    "seed": "train.seed",
    "data_seed": "train.data_seed",
    "split_dataset_ratio": "train.split_dataset_ratio",
    "group_by_length": "train.group_by_length",
    "report_to": "train.report_to",
    "deepspeed": "train.deepspeed",
    "quant_method": "quant.quant_method",
    "quant_bits": "quant.quant_bits",
    "bnb_4bit_quant_type": "quant.bnb_4bit_quant_type",
    "bnb_4bit_use_double_quant": "quant.bnb_4bit_use_double_quant",
    "bnb_4bit_compute_dtype": "quant.bnb_4bit_compute_dtype",
    "system": "system",
    "model_author": "identity.author",
    "model_name": "identity.name",
    "output_dir": "output_dir",
    "add_version": "output_dir (swiftkit names the run folder)",
    "resume_from_checkpoint": "swiftkit train --resume",
}


NO_REMOTE_CODE = Path(__file__).resolve().parents[1] / "plugins" / "no_remote_code.py"


def _model_flags(b: ArgvBuilder, profile: Profile, flavor: SwiftFlavor) -> None:
    b.add("--model", model_path(profile))
    b.add("--model_type", profile.model.model_type)
    b.add("--template", profile.model.template)
    _remote_code(b, profile, flavor)


def _remote_code(b: ArgvBuilder, profile: Profile, flavor: SwiftFlavor) -> None:
    if not profile.model.trust_remote_code and flavor.plugin_flag:
        b.add(flavor.plugin_flag, shown_path(str(NO_REMOTE_CODE)))


def remote_code_note(profile: Profile, flavor: SwiftFlavor) -> str:
    """What `plan` says about remote code."""
    if profile.model.trust_remote_code:
        return "remote code: ALLOWED (model.trust_remote_code: true) - the model folder's Python code may run"
    if flavor.plugin_flag:
        return "remote code: off (swiftkit's plugin makes ms-swift load with trust_remote_code=False)"
    return f"remote code: ms-swift {flavor.version} decides (swiftkit can only turn it off on 4.x)"


def render_sft(run: ResolvedRun, flavor: SwiftFlavor) -> Command:
    """``swift sft`` for a resolved run: its prepared datasets, in the run folder swiftkit chose (ms-swift then
    adds no version folder of its own)."""
    profile = run.profile
    t, lora = profile.train, profile.lora
    if t.per_device_train_batch_size == AUTO or t.gradient_accumulation_steps == AUTO:
        raise SwiftkitError("batch size 'auto' was not resolved before rendering; this is a swiftkit bug.")
    b = ArgvBuilder("swift", "sft")
    _model_flags(b, profile, flavor)
    if run.local_model:
        b.add("--check_model", False)  # no hub look-up for a local folder
    b.add(flavor.tuner_flag, lora.tuner_type)
    b.add("--torch_dtype", t.torch_dtype)
    _quant_flags(b, profile)
    b.add_list("--dataset", [d.argv_value for d in run.data])
    b.add("--num_train_epochs", t.num_train_epochs)
    b.add("--per_device_train_batch_size", t.per_device_train_batch_size)
    b.add("--per_device_eval_batch_size", t.per_device_eval_batch_size)
    b.add("--gradient_accumulation_steps", t.gradient_accumulation_steps)
    b.add("--learning_rate", t.learning_rate)
    if lora.tuner_type == "lora":
        b.add("--lora_rank", lora.lora_rank)
        b.add("--lora_alpha", lora.lora_alpha)
        b.add("--lora_dropout", lora.lora_dropout)
        b.add_list("--target_modules", lora.target_modules)
        if lora.use_dora:
            b.add("--use_dora", True)
    b.add("--warmup_ratio", t.warmup_ratio)
    b.add("--max_length", t.max_length)
    b.add("--gradient_checkpointing", t.gradient_checkpointing)
    b.add("--attn_impl", t.attn_impl)
    b.add("--eval_steps", t.eval_steps)
    b.add("--save_steps", t.save_steps)
    b.add("--save_total_limit", t.save_total_limit)
    b.add("--logging_steps", t.logging_steps)
    b.add("--dataloader_num_workers", t.dataloader_num_workers)
    if t.use_liger_kernel:  # only when on, so profiles that leave it off render as before
        b.add("--use_liger_kernel", True)
    b.add("--seed", t.seed)
    b.add("--data_seed", t.data_seed)
    if t.split_dataset_ratio:
        b.add("--split_dataset_ratio", t.split_dataset_ratio)
    if t.group_by_length:
        b.add("--group_by_length", True)
    b.add_list("--report_to", t.report_to)
    b.add("--system", profile.system)
    if profile.identity is not None:
        ident = profile.identity
        # ms-swift takes the Chinese form first; one value serves both languages.
        b.add_list("--model_author", [ident.author_zh, ident.author] if ident.author_zh else [ident.author])
        b.add_list("--model_name", [ident.name_zh, ident.name] if ident.name_zh else [ident.name])
    b.add("--deepspeed", t.deepspeed)
    b.add("--output_dir", shown_path(str(run.run_dir)))
    b.add("--add_version", False)
    b.add("--resume_from_checkpoint", shown_path(str(run.resume_from)) if run.resume_from else None)
    _passthrough(b, profile)
    return Command(b.argv, launch_environment(profile))


def _quant_flags(b: ArgvBuilder, profile: Profile) -> None:
    q = profile.quant
    if q is None:
        return
    b.add("--quant_method", q.quant_method)
    b.add("--quant_bits", q.quant_bits)
    if q.quant_bits == 4:
        b.add("--bnb_4bit_compute_dtype", q.bnb_4bit_compute_dtype or profile.train.torch_dtype)
        b.add("--bnb_4bit_quant_type", q.bnb_4bit_quant_type)
        b.add("--bnb_4bit_use_double_quant", q.bnb_4bit_use_double_quant)


def _passthrough(b: ArgvBuilder, profile: Profile) -> None:
    """``swift_args``, checked against the installed ms-swift's flags (read once per version, cached)."""
    if not profile.swift_args:
        return
    from swiftkit.swift.flags import check_swift_args

    check_swift_args(profile.swift_args, OWNED)
    for name, value in sorted(profile.swift_args.items()):
        flag = f"--{name}"
        if isinstance(value, list):
            b.add_list(flag, value)
        elif isinstance(value, dict):
            b.add(flag, json.dumps(value, ensure_ascii=False, sort_keys=True))
        else:
            b.add(flag, value)


def render_infer(
    profile: Profile,
    flavor: SwiftFlavor,
    checkpoint: Optional[str],
    val_dataset: Optional[str] = None,
    result_path: Optional[str] = None,
) -> Command:
    """``swift infer`` on an adapter, a merged model folder (``…-merged``), or the base model (None).

    With ``val_dataset`` it answers that file in batches and writes ``result_path`` (non-interactive)."""
    inf = profile.infer
    b = ArgvBuilder("swift", "infer")
    if checkpoint is not None and is_merged(checkpoint):
        b.add("--model", shown_path(checkpoint))
        b.add("--model_type", profile.model.model_type)
        b.add("--template", profile.model.template)
        _remote_code(b, profile, flavor)
    else:
        _model_flags(b, profile, flavor)
        if checkpoint is not None:
            b.add("--adapters", shown_path(checkpoint))
    b.add("--torch_dtype", profile.train.torch_dtype)
    b.add("--system", profile.system)
    b.add("--infer_backend", flavor.infer_backend)
    b.add("--temperature", inf.temperature)
    b.add("--max_new_tokens", inf.max_new_tokens)
    if val_dataset is not None:
        b.add("--stream", False)
        b.add("--max_batch_size", inf.max_batch_size)
        b.add("--val_dataset", shown_path(val_dataset))
        b.add("--result_path", shown_path(result_path or ""))
    else:
        b.add("--stream", inf.stream)
    return Command(b.argv, environment(profile))


def render_export(profile: Profile, flavor: SwiftFlavor, checkpoint: str, overwrite: bool = False) -> Command:
    """``swift export --merge_lora``: writes ``<checkpoint>-merged`` next to the checkpoint."""
    b = ArgvBuilder("swift", "export")
    _model_flags(b, profile, flavor)
    b.add("--adapters", shown_path(checkpoint))
    b.add("--torch_dtype", profile.train.torch_dtype)
    b.add("--merge_lora", profile.export.merge_lora)
    if overwrite:
        b.add("--exist_ok", True)
    return Command(b.argv, environment(profile))
