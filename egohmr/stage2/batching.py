"""How many images one stage-2 sampling call takes: a measured memory model and the batch it allows under a cap.

The peak working memory of one `egohmr.stage2.pipeline.predict_samples` call on B images (S samples each, the
settings fixed) is modelled as ``bytes = fixed + per_image · B``: every tensor of the chain has B·S or B rows, so each
phase (backbone, PointNet, denoiser steps, guidance) is close to linear in B. `calibrate` measures B = 1, 2 and 4 on a
real input over a short step plan (the first step and the last two, where guidance is active; every step of a run
allocates the same) and fits a line that lies on or above the measurements with their steepest slope (without
guidance the measurements lie on a line; the guidance's collision scoring grows a little unevenly with B);
`largest_batch` inverts it.

What is counted (`measure_peak_bytes`):

- CUDA: ``torch.cuda.max_memory_allocated`` above what was allocated before the call (tensors of the call; the
  caching allocator's reserve and cuBLAS/cuDNN workspaces are not counted).
- CPU: the largest total size of the tensor storages created during the call and alive at the same time, tracked by a
  `TorchDispatchMode` (allocator-independent; memory that torch allocates outside tensors, e.g. oneDNN scratch
  buffers, and the Python objects are not counted). Tracking costs time, so it is used for calibration only.

Neither counts the model weights or the inputs that exist before the call; `MemoryModel.fixed_bytes` adds the weights
(parameters and buffers) so that the cap is on weights + working memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from egohmr.diffusion.guidance import CollisionGuidance
from egohmr.diffusion.schedulers import DDIMScheduler, DDPMScheduler
from egohmr.stage2.config import Stage2TestConfig
from egohmr.stage2.model import EgoHMRModel
from egohmr.stage2.pipeline import predict_samples

__all__ = [
    "GIB",
    "MemoryModel",
    "PeakBytes",
    "RunPeak",
    "calibrate",
    "calibration_steps",
    "fit_memory_model",
    "memory_capped_batch",
    "largest_batch",
    "measure_peak_bytes",
    "repeat_images",
    "weight_bytes",
]

GIB = 1024**3
"""Bytes per GiB (``max_memory_gb`` counts GiB)."""
CALIBRATION_IMAGES = (1, 2, 4)
"""Batch sizes measured by `calibrate`."""


@dataclasses.dataclass(frozen=True)
class MemoryModel:
    """Peak bytes of one sampling call on B images: ``fixed_bytes + per_image_bytes · B``."""

    fixed_bytes: float
    """Weights plus the batch-independent working memory (bytes)."""
    per_image_bytes: float
    """Working memory added by each image (its S samples included), bytes."""

    def peak_bytes(self, images: int) -> float:
        """Modelled peak bytes of a call on ``images`` images."""
        return self.fixed_bytes + self.per_image_bytes * images


def fit_memory_model(peaks: Mapping[int, float], fixed_bytes: float = 0.0) -> MemoryModel:
    """A line on or above measured working-memory peaks {B: bytes} (at least two batch sizes): the steepest slope
    between neighbouring batch sizes, the intercept raised to the highest measurement (the line through two).

    Args:
        peaks: {images per call: measured peak bytes of the call's working memory}.
        fixed_bytes: memory held regardless of the call (the weights), added to the intercept.

    Raises:
        ValueError: fewer than two batch sizes.
    """
    if len(peaks) < 2:
        raise ValueError(f"fit_memory_model needs peaks of at least two batch sizes, got {dict(peaks)}")
    points = sorted(peaks.items())
    slopes = [(v1 - v0) / (b1 - b0) for (b0, v0), (b1, v1) in zip(points, points[1:], strict=False)]
    slope = max(0.0, *slopes)  # measurement noise must not make a larger batch look cheaper
    intercept = max(v - slope * b for b, v in points)
    return MemoryModel(fixed_bytes=fixed_bytes + max(intercept, 0.0), per_image_bytes=slope)


def largest_batch(model: MemoryModel, max_memory_gb: float, max_images: int | None = None) -> int:
    """The most images per call whose modelled peak stays within ``max_memory_gb`` GiB (at most ``max_images``).

    Raises:
        ValueError: even one image exceeds the cap (the message gives what one image needs).
    """
    cap = max_memory_gb * GIB
    one = model.peak_bytes(1)
    if one > cap:
        raise ValueError(
            f"test.max_memory_gb={max_memory_gb:g} is below what one image needs ({one / GIB:.2f} GiB: "
            f"{model.fixed_bytes / GIB:.2f} fixed + {model.per_image_bytes / GIB:.3f} per image); raise the cap or "
            "lower test.num_samples"
        )
    images = int((cap - model.fixed_bytes) // model.per_image_bytes) if model.per_image_bytes > 0 else 1 << 30
    return max(1, images if max_images is None else min(images, max_images))


class PeakBytes:
    """Result of `measure_peak_bytes`: ``value`` (bytes) is set when the block ends."""

    value: int = 0


class _LiveStorages(TorchDispatchMode):
    """Largest total size of the tensor storages created under the mode and alive together (CPU accounting)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, weakref.ref] = {}  # id of a storage -> weak reference whose callback frees it
        self.current = 0
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = {id(t.untyped_storage()) for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and id(t.untyped_storage()) not in inputs:  # views, in place: no new memory
                self._add(t.untyped_storage())
        return out

    def _add(self, storage: torch.UntypedStorage) -> None:
        key, nbytes = id(storage), storage.nbytes()
        if key in self.live:
            return

        def freed(_: weakref.ref) -> None:  # runs while the storage is deallocated, before its id can be reused
            self.live.pop(key, None)
            self.current -= nbytes

        self.live[key] = weakref.ref(storage, freed)  # torch keeps one Python storage object per live storage
        self.current += nbytes
        self.peak = max(self.peak, self.current)


@contextlib.contextmanager
def measure_peak_bytes(device: torch.device | str) -> Iterator[PeakBytes]:
    """Peak bytes of the tensors allocated inside the block (module docstring: what is counted on CUDA and CPU)."""
    device = torch.device(device)
    peak = PeakBytes()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield peak
        torch.cuda.synchronize(device)
        peak.value = torch.cuda.max_memory_allocated(device) - before
        return
    with _LiveStorages() as tracker:
        yield peak
    peak.value = tracker.peak


def weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def repeat_images(batch: Mapping[str, Any], images: int) -> dict[str, Any]:
    """A one-image collated batch repeated to ``images`` images (tensors along dim 0; other fields repeated)."""
    return {
        k: v.expand(images, *v.shape[1:]).contiguous() if isinstance(v, torch.Tensor) else list(v) * images
        for k, v in batch.items()
    }


PER_IMAGE_HEADROOM = 1.1
"""Factor on the measured bytes per image: the samples of a larger batch are other bodies, and the collision score's
working memory follows how many scene points each body leaves near it (a few per cent between batch sizes)."""


def calibrate(run_call: Any, example: Mapping[str, Any], device: torch.device | str, fixed_bytes: float) -> MemoryModel:
    """Measure a sampling call on 1, 2 and 4 copies of one image and fit the `MemoryModel` (bytes per image raised by
    `PER_IMAGE_HEADROOM`).

    Args:
        run_call: ``run_call(batch)`` runs one (short) sampling call on a collated batch.
        example: collated batch of one image, on ``device``.
        device: where the call runs (decides how memory is counted).
        fixed_bytes: memory held regardless of the call (`weight_bytes` of the model).
    """
    peaks = {}
    for images in CALIBRATION_IMAGES:
        batch = repeat_images(example, images)
        with measure_peak_bytes(device) as peak:
            run_call(batch)
        peaks[images] = peak.value
    memory = fit_memory_model(peaks, fixed_bytes)
    return dataclasses.replace(memory, per_image_bytes=PER_IMAGE_HEADROOM * memory.per_image_bytes)


def calibration_steps(num_steps: int) -> list[int]:
    """Respaced steps a calibration call visits: the first and the last two (the guided ones), decreasing."""
    return sorted({num_steps - 1, min(1, num_steps - 1), 0}, reverse=True)


def memory_capped_batch(
    model: EgoHMRModel,
    example: Mapping[str, Any],
    transl_pv: torch.Tensor,
    settings: Stage2TestConfig,
    scheduler: DDPMScheduler | DDIMScheduler,
    guidance: CollisionGuidance | None,
) -> int:
    """The most images per `predict_samples` call within ``settings.max_memory_gb`` by the `MemoryModel` calibrated
    on ``example`` (three short calls, on 1, 2 and 4 copies of it).

    Args:
        model: the model in eval mode, on the device of ``example``.
        example: collated batch of one image (any frame of the set: every frame has the same tensor sizes).
        transl_pv: (1, 3) metres, PV frame: the translation that conditions the example.
        settings: sampling settings (samples, fuse, guidance, mode) with the cap ``max_memory_gb`` set.
        scheduler, guidance: as the run will use them.

    Raises:
        ValueError: one image exceeds ``settings.max_memory_gb``.
    """
    if settings.max_memory_gb is None:
        raise ValueError("memory_capped_batch: settings.max_memory_gb is None")
    steps = calibration_steps(scheduler.num_steps)

    def run_call(batch: Mapping[str, Any]) -> None:
        images = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
        predict_samples(
            model,
            batch,
            transl_pv.expand(images, 3),
            settings.num_samples,
            scheduler,
            fuse=settings.diffuse_fuse,
            guidance=guidance,
            generator=torch.Generator(device=transl_pv.device).manual_seed(0),
            return_mode=settings.return_mode,
            mode=settings.mode,
            timesteps=steps,
            visible_noise_scale=settings.visible_noise_scale,
        )

    memory = calibrate(run_call, example, transl_pv.device, weight_bytes(model))
    return largest_batch(memory, settings.max_memory_gb)


class RunPeak:
    """Peak memory of a whole run, cheap enough to stay on while it is timed.

    CUDA: ``torch.cuda.max_memory_allocated`` (weights, inputs and working memory of torch tensors). CPU: the
    process's peak resident set (``VmHWM`` of ``/proc/self/status``, Linux; everything the process touched, the
    Python interpreter and freed-but-kept allocator pages included), reset at `start` where the kernel allows
    (``/proc/self/clear_refs``), else the peak since the process started; None where neither exists.
    """

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)

    @property
    def counts(self) -> str:
        """What `bytes` measures, in words (for the reports)."""
        return "CUDA max_memory_allocated" if self.device.type == "cuda" else "process peak RSS (VmHWM)"

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        with contextlib.suppress(OSError):
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")

    def bytes(self) -> int | None:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device)
        try:
            with open("/proc/self/status") as fh:
                line = next(line for line in fh if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return None
        return int(line.split()[1]) * 1024
