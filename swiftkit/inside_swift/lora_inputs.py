"""ms-swift plugin for ``swift sft`` started by ``swiftkit train`` with ``lora.cast_input_dtype: false`` (ms-swift 4.6).

PEFT casts every LoRA layer's input to the adapter weights' dtype (float32) before the adapter's two small matmuls.
When the Trainer runs its forward under bf16/fp16 autocast (accelerate's native AMP: what ms-swift's Trainer does for
``--torch_dtype bfloat16``), autocast casts that float32 copy straight back to bf16 for each matmul: a full copy of
every LoRA input, twice, that changes no number. PEFT skips that cast under autocast for its bitsandbytes layers
(``requires_conversion = not torch.is_autocast_enabled()``) but not for plain ``Linear``. Turning it off (PEFT's own
switch, ``cast_input_dtype_enabled``, the one ``peft.helpers.disable_input_dtype_casting`` sets) cut the LoRA step on
the Qwen2.5-7B shape by 11% on an H100 with the same loss to every printed digit
(bench/results/nvidia-h100-2026-12-07-issue25e.md).

This file registers one callback, ``swiftkit_lora_inputs``, in ms-swift's ``callbacks_map`` (chosen with
``--callbacks``). At ``on_train_begin``, when the Trainer runs its forward under autocast, it makes every plain LoRA
layer (no DoRA, no dropout) skip the cast in each call that runs under bf16/fp16 autocast, and cast as before in any
call outside it (generation during evaluation runs the model outside the Trainer's autocast). Without autocast
(float32 training, DeepSpeed's own bf16, ``--bf16 false``) it changes nothing, since a bf16 input meeting float32
adapter weights needs the cast. ``on_train_end`` restores PEFT's method. It logs what it did (``swiftkit: PEFT's
LoRA input casting ...``).

ms-swift writes ``external_plugins`` into the run's args.json, copies that file into every checkpoint and reads it
back at infer/export when no plugin is given; a checkpoint naming a file of this installation would then fail to load
anywhere else. The callback takes this file's path out of the run's args.json (written before the Trainer is built,
copied at each save) so checkpoints carry no path into swiftkit.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from typing import Any

import torch
from peft.tuners.lora import LoraLayer
from swift.callbacks import TrainerCallback, callbacks_map
from swift.utils import get_logger

NAME = "swiftkit_lora_inputs"
_THIS = os.path.realpath(__file__)
logger = get_logger()

if not hasattr(LoraLayer, "_cast_input_dtype"):
    raise ImportError("swiftkit lora_inputs plugin: this PEFT has no input dtype casting switch; update swiftkit")


def _layers(model: Any) -> list[Any]:
    """The plain LoRA layers without dropout. DoRA layers compute their magnitude from the input too, and dropout
    is no autocast op: it would run in bf16 instead of float32 and round differently. Both keep PEFT's cast."""
    return [
        m
        for m in model.modules()
        if isinstance(m, LoraLayer)
        and not any(bool(v) for v in getattr(m, "use_dora", {}).values())
        and all(isinstance(d, torch.nn.Identity) for d in getattr(m, "lora_dropout", {}).values())
    ]


LOW = (torch.bfloat16, torch.float16)


def _skip_under_autocast(layer: Any) -> None:
    """PEFT's cast, skipped only for a call that runs under bf16/fp16 autocast: generation during evaluation
    (``predict_with_generate``) runs the inner model outside the Trainer's autocast and needs the cast."""
    cast = layer._cast_input_dtype

    def cast_unless_autocast(x: Any, dtype: Any) -> Any:
        if x is not None and torch.is_autocast_enabled(x.device.type):
            if torch.get_autocast_dtype(x.device.type) in LOW:
                return x
        return cast(x, dtype)

    layer._cast_input_dtype = cast_unless_autocast


def _autocast(trainer: Any) -> str:
    """'bf16' or 'fp16' when the Trainer runs each forward under torch autocast, else ''."""
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is None or not getattr(accelerator, "native_amp", False):
        return ""
    precision = str(getattr(accelerator, "mixed_precision", ""))
    return precision if precision in ("bf16", "fp16") else ""


def _drop_from_args_json(output_dir: str) -> None:
    path = os.path.join(output_dir, "args.json")
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return
    plugins = saved.get("external_plugins") if isinstance(saved, dict) else None
    if not isinstance(plugins, list):
        return
    kept = [p for p in plugins if os.path.realpath(os.path.expanduser(str(p))) != _THIS]
    if kept == plugins:
        return
    saved["external_plugins"] = kept
    fd, tmp = tempfile.mkstemp(dir=output_dir, prefix=".args.json.", suffix=".tmp")
    try:
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))  # mkstemp makes 0600; ms-swift copies the mode on
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(saved, f, ensure_ascii=False, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class LoraInputsCallback(TrainerCallback):
    def __init__(self, args: Any, trainer: Any):
        super().__init__(args, trainer)
        self._switched: list[Any] = []
        if getattr(args, "should_save", True):  # the process that wrote args.json
            _drop_from_args_json(args.output_dir)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model = kwargs.get("model")
        if model is None:  # not `or`: a model that defines __len__ (a ModuleList at the top) may be falsy
            model = self.trainer.model
        layers = _layers(model)
        precision = _autocast(self.trainer)
        if not precision:
            logger.info(
                f"swiftkit: PEFT's LoRA input casting left on for {len(layers)} LoRA layers "
                "(the forward runs without autocast, so the adapter needs its inputs in its own dtype)"
            )
            return
        for layer in layers:
            if "_cast_input_dtype" not in vars(layer):
                _skip_under_autocast(layer)
                self._switched.append(layer)
        logger.info(
            f"swiftkit: PEFT's LoRA input casting off for {len(self._switched)} LoRA layers "
            f"({precision} autocast computes their matmuls in {precision} either way; "
            "still cast in any call outside autocast)"
        )

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for layer in self._switched:
            vars(layer).pop("_cast_input_dtype", None)
        self._switched = []


callbacks_map[NAME] = LoraInputsCallback
