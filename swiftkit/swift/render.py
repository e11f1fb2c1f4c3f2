"""Resolved run -> the exact ``swift sft / infer / export / deploy`` argv and environment, for the installed ms-swift.

Render takes what resolve decided (a :class:`ResolvedRun` for training, a :class:`ResolvedModel` for the rest) and
never looks back: the model path and the checkpoint come from it, never from the profile again.
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
from swiftkit.data.resolve import ResolvedModel, ResolvedRun
from swiftkit.errors import SwiftkitError
from swiftkit.fsutil import shown_path
from swiftkit.layout import partial_merged_path
from swiftkit.model.locate import is_local_path
from swiftkit.sizing.card import FA4, FA4_CACHE_ON
from swiftkit.swift.version import SwiftFlavor


@dataclass(frozen=True)
class Command:
    """One ms-swift invocation: argv (a list, never a shell string) and the environment it adds."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def display(self) -> str:
        """One pasteable shell line: VAR=value ... swift sub --flag value ... (secrets shown as ``$VAR``)."""
        env = [f"{k}=${k}" if k in SECRET_ENV else shlex.quote(f"{k}={v}") for k, v in self.env.items()]
        return " ".join(env + [shlex.quote(arg) for arg in self.argv])


API_KEY_ENV = "SWIFTKIT_API_KEY"  # read by swiftkit deploy and by the serve plugin inside ms-swift
SECRET_ENV = frozenset({API_KEY_ENV})  # never shown, never in argv (argv is visible to every local user)


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


GUARD_DIR = Path(__file__).resolve().parents[1] / "inside_swift" / "guard"  # holds the guard's sitecustomize.py
GUARD_SWITCH = "SWIFTKIT_REMOTE_CODE"


def environment(profile: Profile) -> dict[str, str]:
    """CUDA_VISIBLE_DEVICES pins the profile's GPU(s); a CPU profile hides every GPU. Unless the profile trusts
    remote code, the remote-code guard goes first on the child's PYTHONPATH (the runner keeps the user's after it)
    and is switched on: no Python shipped with a model, tokenizer or adapter is imported by ms-swift's processes."""
    env = {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in profile.gpu.indices) if profile.gpu else ""}
    if not profile.model.trust_remote_code:
        env[GUARD_SWITCH] = "off"
        env["PYTHONPATH"] = shown_path(str(GUARD_DIR))
        if profile.model.allow_code_from:
            env[ALLOW_CODE_ENV] = os.pathsep.join(allowed_code_folders(profile))
    return env


ALLOW_CODE_ENV = "SWIFTKIT_ALLOW_CODE_FROM"


def allowed_code_folders(profile: Profile) -> list[str]:
    """``model.allow_code_from`` as absolute folders (what the guard in the ms-swift process compares against)."""
    return [os.path.abspath(os.path.expanduser(p)) for p in profile.model.allow_code_from]


def launch_environment(profile: Profile) -> dict[str, str]:
    """What ms-swift's launcher reads for training: the GPUs, and NPROC_PER_NODE / NNODES / NODE_RANK /
    MASTER_ADDR / MASTER_PORT when there are several GPUs or nodes (then `swift sft` starts torchrun, one
    process a GPU). With one GPU on one node none of them is set: a plain single process."""
    env = environment(profile)
    if profile.gpu is not None and ALLOC_CONF not in os.environ:
        # Batches of varying length fragment PyTorch's caching allocator: on the mixed identity + Alpaca job one
        # H200 peaked at 77.9 GiB without this and 68.0 GiB with it (bench/results). A user's own setting wins.
        env[ALLOC_CONF] = "expandable_segments:True"
    if profile.gpu is not None and profile.train.attn_impl == FA4 and FA4_CACHE_ON not in os.environ:
        # FlashAttention-4 compiles its CuTe kernels in every process unless told to keep them on disk: the
        # second run of a shape then starts without compiling. A user's own setting wins.
        env[FA4_CACHE_ON] = "1"
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
    "external_plugins": "model.trust_remote_code (swiftkit's remote-code guard decides which plugins load; for a "
    "plugin of your own use swift_args.custom_register_path and list its folder in model.allow_code_from)",
    "check_model": "model.model",
    "tuner_type": "lora.tuner_type",
    "train_type": "lora.tuner_type",
    "use_dora": "lora.use_dora",
    "lora_rank": "lora.lora_rank",
    "lora_alpha": "lora.lora_alpha",
    "lora_dropout": "lora.lora_dropout",
    "target_modules": "lora.target_modules",
    "target_regex": "lora.target_regex",
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
    "padding_free": "train.padding_free",
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


SERVE_PLUGIN = Path(__file__).resolve().parents[1] / "inside_swift" / "serve.py"
LORA_INPUTS_PLUGIN = Path(__file__).resolve().parents[1] / "inside_swift" / "lora_inputs.py"
LORA_INPUTS_CALLBACK = "swiftkit_lora_inputs"  # the callback lora_inputs.py adds to ms-swift's callbacks_map


def _sft_plugins(profile: Profile, flavor: SwiftFlavor) -> tuple[Path, ...]:
    """swiftkit's own plugins for ``swift sft``: the LoRA input-casting switch when the profile turns the cast off
    (ms-swift 4.x, which takes plugins and callbacks from them; on 3.x PEFT keeps its default)."""
    lora = profile.lora
    if lora.tuner_type == "lora" and not lora.cast_input_dtype and flavor.plugin_flag:
        return (LORA_INPUTS_PLUGIN,)
    return ()


def _callbacks(profile: Profile, plugins: tuple[Path, ...]) -> list[str]:
    """``--callbacks``: the profile's own (swift_args.callbacks) and those swiftkit's plugins add."""
    own = profile.swift_args.get("callbacks")
    names = [str(c) for c in (own if isinstance(own, list) else [own] if own is not None else [])]
    if LORA_INPUTS_PLUGIN in plugins and LORA_INPUTS_CALLBACK not in names:
        names.append(LORA_INPUTS_CALLBACK)
    return names


def _model_flags(
    b: ArgvBuilder, profile: Profile, flavor: SwiftFlavor, model: str, plugins: tuple[Path, ...] = ()
) -> None:
    b.add("--model", model)
    b.add("--model_type", profile.model.model_type)
    b.add("--template", profile.model.template)
    if plugins and flavor.plugin_flag:  # swiftkit's own plugins (shipped with it, so the guard lets them load)
        b.add_list(flavor.plugin_flag, [shown_path(str(f)) for f in plugins])


def remote_code_note(profile: Profile, model: str, shipped: list[str]) -> str:
    """What `plan` says about remote code: what is enforced, and what the pre-flight found (``model``: the resolved
    ``--model``; ``shipped``: the code files its local folder carries)."""
    if profile.model.trust_remote_code:
        return "remote code: ALLOWED (model.trust_remote_code: true) - Python shipped with the model may run"
    found = (
        f"the model folder ships code ({', '.join(shipped)}): train, infer and export refuse to start"
        if shipped
        else "the pre-flight found no code in the local model folder"
        if is_local_path(model)
        else "a hub model's code is refused when ms-swift loads it"
    )
    allowed = allowed_code_folders(profile)
    return (
        f"remote code: off - enforced in every ms-swift process by swiftkit's import guard ({GUARD_SWITCH}=off, "
        f"PYTHONPATH): transformers' dynamic modules, transformers_modules, unlisted external plugins and any module "
        f"from outside the Python installation and swiftkit are refused; code allowed from: "
        f"{', '.join(allowed) if allowed else 'nowhere else (model.allow_code_from is empty)'}; {found}"
    )


def render_sft(run: ResolvedRun, flavor: SwiftFlavor) -> Command:
    """``swift sft`` for a resolved run: its prepared datasets, in the run folder swiftkit chose (ms-swift then
    adds no version folder of its own)."""
    profile = run.profile
    t, lora = profile.train, profile.lora
    if t.per_device_train_batch_size == AUTO or t.gradient_accumulation_steps == AUTO:
        raise SwiftkitError("batch size 'auto' was not resolved before rendering; this is a swiftkit bug.")
    b = ArgvBuilder("swift", "sft")
    plugins = _sft_plugins(profile, flavor)
    _model_flags(b, profile, flavor, run.model, plugins)  # decided once, at resolve
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
        _lora_flags(b, profile)
    b.add("--warmup_ratio", t.warmup_ratio)
    b.add("--max_length", t.max_length)
    if not isinstance(t.gradient_checkpointing, bool):  # fit.apply resolves 'auto' before any command is built
        raise SwiftkitError("train.gradient_checkpointing 'auto' was not resolved; report this as a swiftkit bug.")
    b.add("--gradient_checkpointing", t.gradient_checkpointing)
    if t.attn_impl == AUTO or not isinstance(t.padding_free, bool):  # card.fit_card resolves both first
        raise SwiftkitError("train.attn_impl/padding_free 'auto' was not resolved; report this as a swiftkit bug.")
    b.add("--attn_impl", t.attn_impl)
    if t.padding_free:  # only when on, so profiles that leave it off render as before
        b.add("--padding_free", True)
    b.add("--eval_steps", t.eval_steps)
    b.add("--save_steps", t.save_steps)
    b.add("--save_total_limit", t.save_total_limit)
    b.add("--logging_steps", t.logging_steps)
    b.add("--dataloader_num_workers", t.dataloader_num_workers)
    if not isinstance(t.use_liger_kernel, bool):  # fit.apply resolves 'auto' before any command is built
        raise SwiftkitError("train.use_liger_kernel 'auto' was not resolved; report this as a swiftkit bug.")
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
    _identity_flags(b, profile)
    b.add("--deepspeed", t.deepspeed)
    b.add("--output_dir", shown_path(str(run.run_dir)))
    b.add("--add_version", False)
    b.add("--resume_from_checkpoint", shown_path(str(run.resume_from)) if run.resume_from else None)
    callbacks = _callbacks(profile, plugins)
    if plugins:  # swift_args.callbacks joins swiftkit's in one flag (a second --callbacks would replace the first)
        b.add_list("--callbacks", callbacks)
    _passthrough(b, profile, skip=("callbacks",) if plugins else ())
    return Command(b.argv, launch_environment(profile))


def _lora_flags(b: ArgvBuilder, profile: Profile) -> None:
    lora = profile.lora
    b.add("--lora_rank", lora.lora_rank)
    b.add("--lora_alpha", lora.lora_alpha)
    b.add("--lora_dropout", lora.lora_dropout)
    if lora.target_regex is not None:  # ms-swift uses it instead of --target_modules
        b.add("--target_regex", lora.target_regex)
    else:
        b.add_list("--target_modules", lora.target_modules)
    if lora.use_dora:
        b.add("--use_dora", True)


def _identity_flags(b: ArgvBuilder, profile: Profile) -> None:
    ident = profile.identity
    if ident is None:
        return
    # ms-swift takes the Chinese form first; one value serves both languages.
    b.add_list("--model_author", [ident.author_zh, ident.author] if ident.author_zh else [ident.author])
    b.add_list("--model_name", [ident.name_zh, ident.name] if ident.name_zh else [ident.name])


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


def _passthrough(b: ArgvBuilder, profile: Profile, skip: tuple[str, ...] = ()) -> None:
    """``swift_args``, checked against the installed ms-swift's flags (read once per version, cached); those in
    ``skip`` were already rendered with swiftkit's own values."""
    if not profile.swift_args:
        return
    from swiftkit.swift.flags import check_swift_args

    check_swift_args(profile.swift_args, OWNED, problems=code_folder_problems(profile) + packing_problems(profile))
    for name, value in sorted(profile.swift_args.items()):
        if name in skip:
            continue
        flag = f"--{name}"
        if isinstance(value, list):
            b.add_list(flag, value)
        elif isinstance(value, dict):
            b.add(flag, json.dumps(value, ensure_ascii=False, sort_keys=True))
        else:
            b.add(flag, value)


# ms-swift flags that name a folder (or a file in one) whose Python ms-swift imports: `swift/arguments/**` in 4.6.0.
# external_plugins is OWNED; these pass only when the folder is listed in model.allow_code_from.
CODE_FOLDER_FLAGS = ("local_repo_path", "custom_register_path")


def _on(value: object) -> bool:
    return value is True or str(value).lower() == "true"


def packing_problems(profile: Profile) -> list[str]:
    """swift_args.packing with train.group_by_length: ms-swift 4.6.0 asks the packed dataset for its 'lengths' column
    (``trainers/mixin.py`` get_train_dataloader), which it has not: a TypeError after the model has loaded
    (measured on an H200, bench/results/nvidia-h200-2026-12-03-issue25-final.md). A streamed dataset is not grouped."""
    a = profile.swift_args
    if _on(a.get("packing")) and profile.train.group_by_length and not _on(a.get("streaming")):
        return [
            "swift_args.packing: ms-swift cannot group packed records by length (it fails after loading the model); "
            "add --set train.group_by_length=false (packed rows are all about max_length long anyway)"
        ]
    return []


def code_folder_problems(profile: Profile) -> list[str]:
    """swift_args that would make ms-swift import Python from a folder the profile does not allow."""
    if profile.model.trust_remote_code:
        return []
    allowed = allowed_code_folders(profile)
    problems = []
    for name in CODE_FOLDER_FLAGS:
        value = profile.swift_args.get(name)
        for item in value if isinstance(value, list) else [value] if value is not None else []:
            real = os.path.realpath(os.path.expanduser(str(item)))
            if not any(real == os.path.realpath(a) or real.startswith(os.path.realpath(a) + os.sep) for a in allowed):
                folder = os.path.dirname(real) if name == "custom_register_path" else real
                problems.append(
                    f"swift_args.{name}: ms-swift imports Python from {item}; swiftkit refuses code from outside the "
                    f"Python installation unless its folder is listed in model.allow_code_from "
                    f"(--set 'model.allow_code_from=[{folder}]') - do that only if you trust that code"
                )
    return problems


def _load_flags(b: ArgvBuilder, target: ResolvedModel, flavor: SwiftFlavor, plugins: tuple[Path, ...] = ()) -> None:
    """The model as training saw it: base model + adapter, a merged folder (``…-merged``), or the base model alone;
    then dtype and system prompt."""
    profile, checkpoint = target.profile, target.checkpoint
    if checkpoint is not None and target.merged:
        _model_flags(b, profile, flavor, shown_path(str(checkpoint)), plugins)
    else:
        _model_flags(b, profile, flavor, target.model, plugins)
        if checkpoint is not None:
            b.add("--adapters", shown_path(str(checkpoint)))
    b.add("--torch_dtype", profile.train.torch_dtype)
    b.add("--system", profile.system)


def _generation_flags(b: ArgvBuilder, profile: Profile) -> None:
    inf = profile.infer
    b.add("--temperature", inf.temperature)
    b.add("--max_new_tokens", inf.max_new_tokens)
    b.add("--repetition_penalty", inf.repetition_penalty)  # unset: the model's generation_config decides


def render_infer(
    target: ResolvedModel,
    flavor: SwiftFlavor,
    val_dataset: Optional[str] = None,
    result_path: Optional[str] = None,
) -> Command:
    """``swift infer`` on the resolved model: an adapter, a merged model folder (``…-merged``), or the base model.

    With ``val_dataset`` it answers that file in batches and writes ``result_path`` (non-interactive)."""
    profile = target.profile
    inf = profile.infer
    b = ArgvBuilder("swift", "infer")
    _load_flags(b, target, flavor)
    b.add("--infer_backend", flavor.infer_backend)
    _generation_flags(b, profile)
    if val_dataset is not None:
        b.add("--stream", False)
        b.add("--max_batch_size", inf.max_batch_size)
        if flavor.major >= 4:  # results written batch by batch (checked in 4.6.0): swiftkit counts them as they come
            b.add("--write_batch_size", inf.max_batch_size)
        b.add("--val_dataset", shown_path(val_dataset))
        b.add("--result_path", shown_path(result_path or ""))
    else:
        b.add("--stream", inf.stream)
    return Command(b.argv, environment(profile))


@dataclass(frozen=True)
class Endpoint:
    """Where and as what ``swift deploy`` serves: the address, the model name clients send, and the API key."""

    host: str
    port: int
    served_model_name: str
    api_key: Optional[str] = None
    verbose: bool = False  # ms-swift logs every request and answer (into swiftkit's log file)
    max_request_bytes: Optional[int] = None  # the serve plugin's body limit (None: its default, 4 MiB)


def render_deploy(target: ResolvedModel, flavor: SwiftFlavor, endpoint: Endpoint) -> Command:
    """``swift deploy``: the same model, adapter, template, system prompt and generation settings as
    :func:`render_infer`, served over an OpenAI-compatible API.

    swiftkit's serve plugin keeps the port exactly as asked, answers 401 to a wrong or missing key and 400 to a
    request that cannot be encoded (streamed or not). The API key travels in the environment, never in argv (which
    every local user can read, and which ms-swift writes to its log)."""
    if not flavor.plugin_flag:
        raise SwiftkitError(
            f"swiftkit deploy needs ms-swift 4.x (installed: {flavor.version}); "
            "install it with 'pip install \"ms-swift>=4.6,<5\"'."
        )
    profile = target.profile
    inf = profile.infer
    b = ArgvBuilder("swift", "deploy")
    _load_flags(b, target, flavor, plugins=(SERVE_PLUGIN,))
    b.add("--infer_backend", inf.infer_backend or flavor.infer_backend)
    _generation_flags(b, profile)
    b.add("--max_batch_size", inf.max_batch_size)
    b.add("--host", endpoint.host)
    b.add("--port", endpoint.port)
    b.add("--served_model_name", endpoint.served_model_name)
    b.add("--verbose", endpoint.verbose)
    env = environment(profile)
    if endpoint.api_key:
        env[API_KEY_ENV] = endpoint.api_key
    if endpoint.max_request_bytes is not None:
        env[MAX_REQUEST_ENV] = str(endpoint.max_request_bytes)
    return Command(b.argv, env)


MAX_REQUEST_ENV = "SWIFTKIT_MAX_REQUEST_BYTES"  # read by the serve plugin


def render_export(target: ResolvedModel, flavor: SwiftFlavor) -> Command:
    """``swift export --merge_lora`` into a temporary sibling of ``<checkpoint>-merged`` (``.…-merged.partial``),
    which swiftkit renames into place only once it is complete (see jobs.export)."""
    profile, checkpoint = target.profile, target.adapter
    b = ArgvBuilder("swift", "export")
    _model_flags(b, profile, flavor, target.model)
    b.add("--adapters", shown_path(str(checkpoint)))
    b.add("--torch_dtype", profile.train.torch_dtype)
    b.add("--merge_lora", profile.export.merge_lora)
    b.add("--output_dir", shown_path(str(partial_merged_path(checkpoint))))
    return Command(b.argv, environment(profile))
