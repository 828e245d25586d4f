"""How the CLIP towers run: which device, which runtime, which precision.

A spec names a model; this module decides how it runs (DESIGN.md: "Runtimes are an encoder
detail"). `plan_runtime` is the pure rule; `resolve_runtime` asks the machine (torch's CUDA)
and falls back to the CPU with one line on stderr when CUDA is asked for but absent or fails
to initialise."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vidseek.core.errors import one_line
from vidseek.core.settings import Settings

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "torch", "onnx")
PRECISIONS = ("auto", "fp32", "fp16", "int8")

# What `auto` runs at fp32 on a CPU. ONNX Runtime fp32 measured no faster than torch for image
# batches (bench.pipeline_speed, bench.encoder_runtime; docs/benchmarks.md), so torch, which
# needs no export. int8 runs only on ONNX Runtime; on CUDA the towers run on torch.
CPU_FP32_RUNTIME = "torch"


@dataclass(frozen=True)
class RuntimePlan:
    runtime: str  # torch | onnx
    precision: str  # fp32 | fp16 | int8
    device: str  # cpu | cuda:N

    @property
    def vectors(self) -> str:
        """The family of vectors this plan makes; a library never mixes two families.
        fp32 on torch and on ONNX Runtime, and fp16 on torch, agree to a cosine of 0.9999+
        (bench/encoder_runtime.py, ViT-B-32; fp16 measured on the CPU): one family. int8 is its own until its
        agreement is measured on real weights."""
        return "int8" if self.precision == "int8" else "float"

    def describe(self) -> str:
        name = {"torch": "torch", "onnx": "onnxruntime"}[self.runtime]
        return f"{name} {self.precision} on {self.device}"

    @property
    def onnx_text(self) -> str:
        """What a text tower on ONNX Runtime under this plan is called."""
        return f"onnxruntime {'int8' if self.precision == 'int8' else 'fp32'}"


def parse_device(device: str) -> str:
    """`auto`, `cpu`, `cuda` (= `cuda:0`) or `cuda:N`, checked; a clear error otherwise."""
    if device in ("auto", "cpu"):
        return device
    if device == "cuda":
        return "cuda:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device
    raise ValueError(f"device must be auto, cpu, cuda or cuda:N, not {device!r}")


def plan_runtime(runtime: str, precision: str, device: str) -> RuntimePlan:
    """The plan for a resolved device (`cpu` or `cuda:N`): fp16 on CUDA, fp32 on the CPU
    unless asked otherwise; int8 on ONNX Runtime; the towers on torch on CUDA."""
    if runtime not in RUNTIMES:
        raise ValueError(f"clip_runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"clip_precision must be one of {', '.join(PRECISIONS)}, "
                         f"not {precision!r}")
    cuda = device.startswith("cuda")
    if precision == "auto":
        precision = "fp16" if cuda else "fp32"
    if cuda:
        if precision == "int8":
            raise ValueError("clip_precision int8 runs on the CPU (ONNX Runtime); on CUDA use "
                             "fp16 or fp32, or set device=cpu")
        if runtime == "onnx":
            raise ValueError("clip_runtime onnx runs on the CPU; on CUDA the towers run on "
                             "torch (clip_runtime auto or torch), or set device=cpu")
        return RuntimePlan("torch", precision, device)
    if precision == "fp16":
        raise ValueError("clip_precision fp16 needs CUDA; on the CPU use fp32 or int8")
    if precision == "int8":
        if runtime == "torch":
            raise ValueError("clip_precision int8 runs on ONNX Runtime: set clip_runtime to "
                             "onnx or auto")
        return RuntimePlan("onnx", "int8", "cpu")
    return RuntimePlan(CPU_FP32_RUNTIME if runtime == "auto" else runtime, precision, "cpu")


def text_runtime(plan: RuntimePlan, asked: str, text_dtype: str) -> str:
    """Where the text tower runs (`asked`: the clip_runtime setting; `text_dtype`: the
    resolved text_precision). ONNX Runtime at int8 (int8 runs only there); torch on CUDA, in
    bfloat16 (the fastest one-query pass where the CPU has it natively) or when torch is asked
    for; else ONNX Runtime fp32, faster than torch's fp32 for a query without bfloat16
    (bench/encoder_runtime.py). Torch where ONNX cannot run."""
    if plan.precision == "int8":
        return "onnx"
    if plan.device != "cpu" or asked == "torch" or text_dtype == "bfloat16":
        return "torch"
    return "onnx"


def text_on_torch_anywhere(settings: Settings) -> bool:
    """Whether `text_runtime` puts the text tower on torch on any machine these settings meet:
    the rule with what only the machine can say (CUDA, native bfloat16) at ONNX's side."""
    try:
        device = parse_device(settings.device)
        plan = plan_runtime(settings.clip_runtime, settings.clip_precision,
                            "cpu" if device == "auto" else device)
    except ValueError:  # loading the encoder says what is wrong
        return True
    dtype = "float32" if settings.text_precision == "auto" else settings.text_precision
    return text_runtime(plan, settings.clip_runtime, dtype) == "torch"


def resolve_device(device: str) -> str:
    """`cpu` or a CUDA device that initialised. `auto` takes CUDA where torch sees one; an
    asked-for CUDA device that is absent or fails to start logs one line and gives `cpu`."""
    import torch

    device = parse_device(device)
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return "cpu"
    device = "cuda:0" if device == "auto" else device
    try:
        torch.zeros(1, device=device)  # initialises the driver and the device, or says why not
    except (RuntimeError, AssertionError) as e:  # no driver, no such device, a torch without CUDA
        log.warning("vidseek: CUDA device %s is not usable (%s); running on the CPU", device,
                    one_line(e))
        return "cpu"
    return device


def resolve_runtime(settings: Settings) -> RuntimePlan:
    """The plan the configured encoder runs with on this machine. An explicit fp16 whose CUDA
    device failed to start runs at fp32 on the CPU (the CPU has no fp16 kernels worth it)."""
    device = resolve_device(settings.device)
    precision = settings.clip_precision
    if device == "cpu" and precision == "fp16" and parse_device(settings.device) != "cpu":
        precision = "fp32"
    return plan_runtime(settings.clip_runtime, precision, device)


def resolve_text(settings: Settings, plan: RuntimePlan) -> tuple[str, str]:
    """The text tower's precision on this CPU (text_precision resolved: float32 or bfloat16)
    and where it runs (text_runtime). Raises ValueError for a bad text_precision."""
    from vidseek.models.text_tower import native_bfloat16, resolve_precision

    dtype = str(resolve_precision(settings.text_precision, native_bfloat16()))
    dtype = dtype.removeprefix("torch.")
    return dtype, text_runtime(plan, settings.clip_runtime, dtype)


def plan_whisper(device: str, compute_type: str, clip_device: str,
                 cuda_devices: int) -> tuple[str, str, str | None]:
    """faster-whisper's device and compute type, and why CUDA was not used if it was asked
    for: `auto` follows the `device` setting (CUDA where CTranslate2 sees one); compute type
    `auto` is float16 on CUDA and int8 on the CPU."""
    device = parse_device(clip_device if device == "auto" else device)
    why = None
    if device == "auto":
        device = "cuda:0" if cuda_devices else "cpu"
    elif device.startswith("cuda") and int(device[5:]) >= cuda_devices:
        why = (f"CUDA device {device} is not usable by CTranslate2 (it sees {cuda_devices}); "
               "Whisper runs on the CPU")
        device = "cpu"
    if compute_type == "auto":
        compute_type = "int8" if device == "cpu" else "float16"
    elif device == "cpu" and compute_type.startswith("float16"):
        compute_type = "int8"  # a CUDA type asked for, but CUDA is not there
    return device, compute_type, why


def resolve_whisper(settings: Settings) -> tuple[str, str]:
    """The device and compute type faster-whisper runs with on this machine; a CUDA device
    that CTranslate2 cannot see logs one line and gives the CPU."""
    import ctranslate2

    device, compute_type, why = plan_whisper(settings.whisper_device,
                                             settings.whisper_compute_type, settings.device,
                                             ctranslate2.get_cuda_device_count())
    if why:
        log.warning("vidseek: %s", why)
    return device, compute_type
