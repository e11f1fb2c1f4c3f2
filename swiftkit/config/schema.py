"""The Pydantic profile models: what a profile may say, with a description on every field.

A field that maps 1:1 to an ms-swift flag carries that flag's name.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

_NO_DASH = re.compile(r"^[^-\s]")
HUB_ID = re.compile(r"^(hf::|ms::)?[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(:[A-Za-z0-9._-]+)?$")


Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")


SELF_COGNITION = "swift/self-cognition"  # ms-swift's hub identity set, {{NAME}}/{{AUTHOR}} filled by ms-swift


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(Section):
    """Which model to fine-tune and how ms-swift should treat it."""

    model: str = Field(
        description="Hub id (e.g. Qwen/Qwen2.5-7B-Instruct), a local model folder, "
        "or an embedded model such as 'embedded:smollm2-135m-instruct'.",
        min_length=1,
    )
    model_type: Optional[str] = Field(
        None, description="ms-swift --model_type; needed for local folders it cannot recognise (e.g. 'llama')."
    )
    template: Optional[str] = Field(
        None, description="ms-swift --template (chat template), e.g. 'qwen2_5' or 'chatml'."
    )
    trust_remote_code: bool = Field(
        False,
        description="Let the model folder run its own Python code while loading. ms-swift does by default; "
        "swiftkit turns it off unless this is true.",
    )
    allow_code_from: list[str] = Field(
        default_factory=list,
        description="Folders whose Python ms-swift may import (e.g. a local_repo_path or a custom_register_path "
        "plugin's folder). Everything else outside the Python installation and swiftkit is refused in every ms-swift "
        "process while trust_remote_code is false; `plan` prints the list.",
    )


class LoraSection(Section):
    """The tuner: LoRA adapter settings (also DoRA and QLoRA), or full fine-tuning."""

    tuner_type: Literal["lora", "full"] = Field(
        "lora",
        description="ms-swift --tuner_type: 'lora' trains an adapter; 'full' trains every weight (needs far more "
        "GPU memory: about 16 bytes a parameter; the lora_* settings are then unused).",
    )
    use_dora: bool = Field(False, description="ms-swift --use_dora: DoRA (weight-decomposed LoRA) instead of LoRA.")
    lora_rank: int = Field(8, gt=0, le=1024, description="LoRA rank r.")
    lora_alpha: float = Field(32, gt=0, description="LoRA scaling alpha.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    cast_input_dtype: bool = Field(
        True,
        description="PEFT casts each LoRA layer's input to the adapter's dtype (float32) before its matmuls; under "
        "bf16/fp16 autocast the matmuls run in bf16 anyway, so that copy changes no number. false: swiftkit's "
        "ms-swift plugin skips the cast in calls under autocast while training runs with it (ms-swift 4.x; layers "
        "with LoRA dropout or DoRA keep it): -11% LoRA step time on the Qwen2.5-7B shape, same loss (bench/results).",
    )
    target_modules: list[str] = Field(
        default_factory=lambda: ["all-linear"],
        min_length=1,
        description="Modules that get adapters: 'all-linear' or module names such as q_proj.",
    )
    target_regex: Optional[str] = Field(
        None,
        min_length=1,
        description="ms-swift --target_regex: a regular expression over full module names that replaces "
        "target_modules, e.g. '.*\\.layers\\.(2[0-9])\\..*_proj' for the linear layers of blocks 20-29 only "
        "(backward then stops at block 20: faster steps on a CPU).",
    )

    @field_validator("target_modules")
    @classmethod
    def _module_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _NO_DASH.match(name):
                raise ValueError(f"module name {name!r} must not be empty or start with '-' or a space")
        return value

    @field_validator("target_regex")
    @classmethod
    def _compiles(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression ({exc})") from None
        return value


AUTO = "auto"
Auto = Literal["auto"]
AUTO_OFFLINE_GB = 80.0  # gpu.memory_gb: auto with no card visible (plan on a laptop): an 80 GB card
DeepSpeed = Literal["zero2", "zero3", "zero3_offload"]


class TrainSection(Section):
    """Training hyper-parameters, passed to `swift sft` under the same names."""

    num_train_epochs: float = Field(10, gt=0, description="Passes over the training data.")
    per_device_train_batch_size: Union[PositiveInt, Auto] = Field(
        1,
        description="Sequences per forward pass on each GPU; 'auto': swiftkit picks the largest that fits the card "
        "for the data's longest record (needs effective_batch_size).",
    )
    per_device_eval_batch_size: int = Field(1, gt=0, description="Sequences per evaluation forward pass.")
    gradient_accumulation_steps: Union[PositiveInt, Auto] = Field(
        16,
        description="Forward passes per optimizer step; 'auto': effective_batch_size / (batch x GPUs x nodes).",
    )
    effective_batch_size: Optional[int] = Field(
        None,
        gt=0,
        description="Sequences per optimizer step over every GPU and node (batch x accumulation x GPUs x nodes). "
        "Fixes the optimizer steps and learning-rate schedule whatever the card; needed by 'auto'.",
    )
    deepspeed: Optional[DeepSpeed] = Field(
        None,
        description="ms-swift --deepspeed, one of its built-in configs: zero2 (shard optimizer state and "
        "gradients), zero3 (also the weights: models larger than one card), zero3_offload (also to CPU memory). "
        "Needs 'pip install deepspeed'.",
    )
    learning_rate: float = Field(1e-4, gt=0, lt=1, description="Peak learning rate.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Fraction of steps spent warming up the learning rate.")
    max_length: int = Field(
        2048, gt=0, description="Longest sequence in tokens; longer records are dropped by ms-swift."
    )
    torch_dtype: Literal["bfloat16", "float16", "float32"] = Field(
        "bfloat16", description="Weights dtype; float32 on CPU."
    )
    gradient_checkpointing: Union[bool, Auto] = Field(
        True,
        description="Recompute activations to save memory (more compute per pass); 'auto': off when the fitted "
        "batch needs no more forward passes without it, else on (fewer, larger passes win on a GPU).",
    )
    attn_impl: Optional[
        Literal["auto", "sdpa", "eager", "flash_attn", "flash_attention_2", "flash_attention_3", "flash_attention_4"]
    ] = Field(
        None,
        description="Attention implementation; unset lets ms-swift choose (SDPA). 'auto': flash_attention_4 when "
        "every card is Hopper or newer (sm90+) and flash-attn-4 is installed (swiftkit[hopper]), else unset.",
    )
    padding_free: Union[bool, Auto] = Field(
        False,
        description="Concatenate each batch's records instead of padding them to the longest (ms-swift "
        "--padding_free; needs a flash attention implementation). 'auto': on when attn_impl is flash attention.",
    )
    save_steps: int = Field(50, gt=0, description="Save a checkpoint every N optimizer steps (and at the end).")
    eval_steps: int = Field(50, gt=0, description="Evaluate every N optimizer steps (needs a validation split).")
    logging_steps: int = Field(5, gt=0, description="Log loss every N optimizer steps.")
    save_total_limit: int = Field(2, gt=0, description="Keep at most N checkpoints.")
    dataloader_num_workers: int = Field(4, ge=0, description="Data loader worker processes.")
    seed: int = Field(42, ge=0, description="Training seed.")
    data_seed: int = Field(42, ge=0, description="Seed for ms-swift's dataset sampling ('name#N').")
    split_dataset_ratio: float = Field(
        0.0, ge=0, lt=1, description="Fraction of the data held out for evaluation; 0 means no eval and no 'best'."
    )
    group_by_length: bool = Field(
        False, description="Batch records of similar length together (less padding, faster on mixed data)."
    )
    report_to: list[str] = Field(
        default_factory=lambda: ["tensorboard"],
        description="Logging integrations ('none' skips tensorboard and its plots).",
    )
    use_liger_kernel: Union[bool, Auto] = Field(
        False,
        description="Liger's fused Triton kernels (RMSNorm, SwiGLU, cross-entropy): less memory, slower steps when "
        "memory is not short; needs liger-kernel (swiftkit[gpu]). 'auto' (GPU only): off when batches are "
        "padding-free and the batch fitted without them needs no more forward passes and no gradient "
        "checkpointing, else on; off when liger-kernel is not installed.",
    )

    @model_validator(mode="after")
    def _auto_needs_effective_batch(self) -> TrainSection:
        auto = [
            name
            for name in ("per_device_train_batch_size", "gradient_accumulation_steps")
            if getattr(self, name) == AUTO
        ]
        if auto and self.effective_batch_size is None:
            raise ValueError(f"{' and '.join(auto)}: 'auto' needs train.effective_batch_size (sequences per step)")
        return self


class DatasetEntry(Section):
    """One dataset: a local file or a hub dataset; identity data or general data mixed in, optionally sampled."""

    path: Optional[str] = Field(None, description="Local .json/.jsonl file (relative paths: to the profile's folder).")
    hub: Optional[str] = Field(None, description="Hub dataset id, e.g. AI-ModelScope/alpaca-gpt4-data-zh.")
    replay: Optional[str] = Field(
        None,
        description="Self-replay: a prompts file (.jsonl with 'prompt'); the base model's own answers to it "
        "(made by 'swiftkit replay', cached per model) are mixed in as general data. Works offline.",
    )
    kind: Optional[Literal["identity", "general"]] = Field(
        None,
        description="'identity' (who the model is; linted, templated) or 'general' (mixed in to keep general "
        "answers). Default: identity for local files, general for hub datasets.",
    )
    sample: Optional[int] = Field(
        None, gt=0, description="Use N records: hub -> ms-swift 'id#N'; local -> seeded sample without replacement."
    )
    ratio: Optional[float] = Field(
        None, gt=0, description="General data only: records per identity record (e.g. 5), resolved to a count."
    )

    @field_validator("hub")
    @classmethod
    def _hub_id(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not HUB_ID.match(value):
            raise ValueError(f"{value!r} is not a hub dataset id like 'owner/name' (no spaces, no '#')")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DatasetEntry:
        if sum(x is not None for x in (self.path, self.hub, self.replay)) != 1:
            raise ValueError(
                "give exactly one of 'path' (local file), 'hub' (hub dataset id) or 'replay' (prompts file)"
            )
        if self.sample is not None and self.ratio is not None:
            raise ValueError("give 'sample' (a count) or 'ratio' (relative to the identity data), not both")
        if self.ratio is not None and self.role == "identity":
            raise ValueError("'ratio' is for general data; set kind: general or use 'sample'")
        return self

    @property
    def role(self) -> str:
        """Local files are identity data, hub datasets general data, unless ``kind`` says otherwise; ms-swift's own
        self-cognition set (filled by ms-swift from --model_name/--model_author) is identity data."""
        if self.kind:
            return self.kind
        if self.hub is not None:
            return "identity" if self.hub.split("::")[-1] == SELF_COGNITION else "general"
        return "identity" if self.path is not None else "general"  # replay answers are general data


class DataSection(Section):
    """The training data."""

    datasets: list[DatasetEntry] = Field(min_length=1, description="Datasets to train on, in order.")
    min_records: int = Field(50, ge=1, description="Recommended minimum number of identity records.")
    allow_identity_mismatch: bool = Field(
        False,
        description="Train identity data whose answers name another model or author than identity: says "
        "(a warning instead of an error). Off: the profile's identity is the one source of truth.",
    )
    languages: list[Language] = Field(
        default_factory=lambda: list(LANGUAGES), description="Languages the identity data should cover."
    )

    @model_validator(mode="after")
    def _ratio_needs_identity(self) -> DataSection:
        if any(d.ratio is not None for d in self.datasets) and not any(d.role == "identity" for d in self.datasets):
            raise ValueError("a 'ratio' needs an identity dataset to be relative to; add one (a local file)")
        return self


class IdentitySection(Section):
    """Who the model should say it is; fills {{NAME}}/{{AUTHOR}} and ms-swift's --model_name/--model_author."""

    name: str = Field(min_length=1, description="The model's new name (English form).")
    author: str = Field(min_length=1, description="Who made it (English form).")
    name_zh: Optional[str] = Field(None, description="Chinese form of the name; defaults to name.")
    author_zh: Optional[str] = Field(None, description="Chinese form of the author; defaults to author.")


class GpuSection(Section):
    """The GPU(s) of one machine a profile runs on."""

    device: int = Field(0, ge=0, description="One CUDA device index (becomes CUDA_VISIBLE_DEVICES).")
    devices: Optional[list[NonNegativeInt]] = Field(
        None,
        min_length=1,
        description="Several CUDA device indices, e.g. [0, 1]: CUDA_VISIBLE_DEVICES=0,1 and NPROC_PER_NODE=2, "
        "one training process a GPU through ms-swift's torchrun launch (data parallel, or DeepSpeed). "
        "When given it replaces gpu.device.",
    )
    memory_gb: Union[PositiveFloat, Auto] = Field(
        24,
        description="Memory of each card in GB that batches are fitted to, at most: a smaller visible card is fitted "
        f"to its own memory. 'auto': the visible card's memory ({AUTO_OFFLINE_GB:g} when no card is visible, "
        "e.g. planning on a laptop).",
    )

    @model_validator(mode="after")
    def _one_or_several(self) -> GpuSection:
        if self.devices is not None and len(set(self.devices)) != len(self.devices):
            raise ValueError(f"gpu.devices {self.devices} names a card twice")
        return self

    @property
    def memory(self) -> float:
        """The GB that batches are fitted to (``auto`` unresolved, as on a machine without the card)."""
        return AUTO_OFFLINE_GB if self.memory_gb == AUTO else float(self.memory_gb)

    @property
    def indices(self) -> list[int]:
        """The CUDA device indices this machine trains on."""
        return list(self.devices) if self.devices is not None else [self.device]


class LaunchSection(Section):
    """Several machines ('nodes'): the settings ms-swift's torchrun launch reads (NNODES, NODE_RANK, ...).

    Every node runs its own `swiftkit train` with the same profile and its own node_rank."""

    nnodes: int = Field(1, ge=1, description="Number of machines (NNODES).")
    node_rank: int = Field(0, ge=0, description="This machine's rank, 0 .. nnodes-1 (NODE_RANK).")
    master_addr: Optional[str] = Field(
        None, min_length=1, description="Address of node 0, reachable from every node (MASTER_ADDR)."
    )
    master_port: Optional[int] = Field(None, ge=1, le=65535, description="A free TCP port on node 0 (MASTER_PORT).")

    @field_validator("master_addr")
    @classmethod
    def _address(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.match(r"^[A-Za-z0-9.:\[\]_-]+$", value):
            raise ValueError(f"{value!r} is not a host name or IP address")
        return value

    @model_validator(mode="after")
    def _rank_in_range(self) -> LaunchSection:
        if self.node_rank >= self.nnodes:
            raise ValueError(f"node_rank {self.node_rank} must be below nnodes {self.nnodes} (ranks count from 0)")
        if self.nnodes > 1 and self.master_addr is None:
            raise ValueError("several nodes need master_addr: the address of node 0 that every node can reach")
        return self


_SLURM_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")


class SlurmSection(Section):
    """Submitting the run to a SLURM cluster (`swiftkit train --slurm`): what the sbatch script asks for."""

    nodes: int = Field(1, ge=1, description="Machines the job runs on (#SBATCH --nodes); one launcher a node.")
    gpus_per_node: Optional[int] = Field(
        None,
        ge=0,
        description="GPUs asked for on each node (#SBATCH --gpus-per-node) and training processes a node; default: "
        "as many as gpu.devices lists. 0 asks for none (CPU ranks, e.g. swift_args.use_cpu).",
    )
    cpus_per_task: Optional[int] = Field(
        None, ge=1, description="CPU cores for each node's launcher and its ranks (#SBATCH --cpus-per-task)."
    )
    partition: Optional[str] = Field(None, min_length=1, description="SLURM partition (#SBATCH --partition).")
    account: Optional[str] = Field(None, min_length=1, description="Account charged (#SBATCH --account).")
    time: Optional[str] = Field(
        None,
        description="Time limit, SLURM's spelling: minutes, 'H:MM:SS' or 'D-HH:MM:SS' (#SBATCH --time). "
        "A job over it is killed by SLURM; resume with 'swiftkit train --slurm --resume'.",
    )
    constraint: Optional[str] = Field(None, min_length=1, description="Node features (#SBATCH --constraint).")
    shared_output: bool = Field(
        False,
        description="Several nodes: output_dir is on storage every node sees at the same path. swiftkit checks the "
        "file-system type and refuses a local one (ext4, xfs, tmpfs, ...); set this when it cannot tell.",
    )
    extra: list[str] = Field(
        default_factory=list,
        description="Further sbatch options, one a line without '#SBATCH', e.g. '--qos=high' or '--mem=0'.",
    )

    @field_validator("partition", "account", "constraint")
    @classmethod
    def _one_word(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (value.startswith("-") or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} must be one word, without spaces or a leading '-'")
        return value

    @field_validator("time")
    @classmethod
    def _slurm_time(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _SLURM_TIME.match(value):
            raise ValueError(f"{value!r} is not a SLURM time: minutes ('90'), 'H:MM:SS' or 'D-HH:MM:SS'")
        return value

    @field_validator("extra")
    @classmethod
    def _sbatch_options(cls, value: list[str]) -> list[str]:
        for line in value:
            if not line.startswith("-") or "\n" in line:
                raise ValueError(f"{line!r} must be one sbatch option starting with '-', e.g. '--qos=high'")
        return value


class QuantSection(Section):
    """Load the base model quantised (QLoRA): ms-swift's --quant_method/--quant_bits and bitsandbytes settings."""

    quant_method: Literal["bnb"] = Field("bnb", description="ms-swift --quant_method; bnb is bitsandbytes.")
    quant_bits: Literal[4, 8] = Field(4, description="ms-swift --quant_bits: 4 (QLoRA) or 8.")
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type (nf4 is QLoRA's).")
    bnb_4bit_use_double_quant: bool = Field(True, description="Quantise the quantisation constants too.")
    bnb_4bit_compute_dtype: Optional[Literal["bfloat16", "float16", "float32"]] = Field(
        None, description="dtype of the 4-bit matmuls; unset: train.torch_dtype."
    )


class InferSection(Section):
    """Settings for `swift infer` and `swift deploy`."""

    temperature: float = Field(0.0, ge=0, description="Sampling temperature; 0 is greedy.")
    max_new_tokens: int = Field(512, gt=0, description="Longest answer in tokens.")
    stream: bool = Field(True, description="Stream tokens as they are generated (interactive use).")
    max_batch_size: int = Field(16, gt=0, description="Prompts answered together in batch inference (--prompt, eval).")
    repetition_penalty: Optional[float] = Field(
        None,
        gt=0,
        description="ms-swift --repetition_penalty for infer, deploy and eval (e.g. 1.1 curbs loops such as "
        "'说说说…'); unset keeps the model's generation_config.",
    )
    infer_backend: Optional[Literal["transformers", "vllm", "sglang", "lmdeploy"]] = Field(
        None,
        description="ms-swift --infer_backend for 'swiftkit deploy'; unset means transformers (CPU and GPU). "
        "vllm, sglang and lmdeploy need that package installed and a GPU.",
    )


class EvalSection(Section):
    """What counts as success for `swiftkit eval` and `swiftkit train --check` (the adapter's rates)."""

    identity_min: float = Field(0.9, ge=0, le=1, description="Lowest identity pass rate that passes (0.9 = 90%).")
    pollution_max: float = Field(
        0.05, ge=0, le=1, description="Highest share of general answers that may mention the identity."
    )
    degenerate_max: float = Field(0.05, ge=0, le=1, description="Highest share of answers that may loop.")
    after_train: bool = Field(
        False, description="Run the identity eval after every good training run, as 'swiftkit train --check' does."
    )


class ExportSection(Section):
    """Settings for `swift export`."""

    merge_lora: bool = Field(True, description="Merge the LoRA adapter into the base weights.")


class Profile(Section):
    """A run profile: everything needed to render `swift sft`, `swift infer` and `swift export`."""

    description: str = Field("", description="One line saying what the profile is for.")
    model: ModelSection = Field(description="The model to fine-tune.")
    lora: LoraSection = Field(default_factory=LoraSection, description="LoRA settings.")
    train: TrainSection = Field(default_factory=TrainSection, description="Training hyper-parameters.")
    data: DataSection = Field(description="Training data.")
    system: Optional[str] = Field(None, description="System prompt used in training and inference.")
    identity: Optional[IdentitySection] = Field(None, description="The identity the model is trained to claim.")
    gpu: Optional[GpuSection] = Field(None, description="The GPU(s) to use; leave out (null) to run on the CPU.")
    launch: LaunchSection = Field(default_factory=LaunchSection, description="Several machines (nodes).")
    slurm: SlurmSection = Field(
        default_factory=SlurmSection, description="The sbatch job of 'swiftkit train --slurm' (nodes, GPUs, time...)."
    )
    quant: Optional[QuantSection] = Field(
        None, description="Quantise the base model while training (QLoRA); null trains on the full-precision weights."
    )
    swift_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other `swift sft` argument, {flag: value} without the dashes, checked against the "
        "installed ms-swift's own argument definitions; a flag a profile field sets is refused (set the field).",
    )
    output_dir: str = Field("output", min_length=1, description="Where ms-swift writes run folders (vN-…).")
    infer: InferSection = Field(default_factory=InferSection, description="Inference settings.")
    export: ExportSection = Field(default_factory=ExportSection, description="Export settings.")
    eval: EvalSection = Field(default_factory=EvalSection, description="Targets for 'swiftkit eval' and train --check.")

    @model_validator(mode="after")
    def _hardware_rules(self) -> Profile:
        if self.gpu is None:
            cpu_only = [
                name
                for name, on in (
                    ("quant", self.quant is not None),
                    ("train.deepspeed", self.train.deepspeed is not None),
                    ("launch.nnodes", self.launch.nnodes > 1),
                )
                if on
            ]
            if cpu_only:
                raise ValueError(f"{', '.join(cpu_only)} need(s) a GPU; set gpu (e.g. gpu: {{device: 0}})")
        if self.quant is not None and self.lora.tuner_type == "full":
            raise ValueError(
                "quant (QLoRA) trains an adapter on a quantised model; it cannot be used with lora.tuner_type: full"
            )
        if self.quant is not None and self.train.deepspeed in ("zero3", "zero3_offload"):
            raise ValueError("quant (QLoRA) with ZeRO-3 is not supported; use train.deepspeed: zero2 or none")
        self._slurm_gpus()
        for key in self.swift_args:
            if not isinstance(key, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", key):
                raise ValueError(
                    f"swift_args key {key!r} must be an ms-swift flag name without dashes, e.g. lr_scheduler_type"
                )
        return self

    def _slurm_gpus(self) -> None:
        asked = self.slurm.gpus_per_node
        if not asked:
            return
        if self.gpu is None:
            raise ValueError(
                f"slurm.gpus_per_node {asked} needs a GPU profile; set gpu.devices (e.g. [0, 1]) or leave it out"
            )
        if asked > len(self.gpu.indices):
            raise ValueError(
                f"slurm.gpus_per_node {asked} asks for more GPUs a node than gpu.devices lists "
                f"({len(self.gpu.indices)}: {self.gpu.indices}); list {asked} devices (e.g. gpu.devices: "
                f"{list(range(asked))}) or ask for fewer"
            )

    @property
    def gpus_per_node(self) -> int:
        return len(self.gpu.indices) if self.gpu is not None else 1

    @property
    def world_size(self) -> int:
        """Training processes over every node (one a GPU)."""
        return self.gpus_per_node * self.launch.nnodes
