"""Benchmark: BodyModel forward (linear blend skinning) in ms per call.

Sweeps batch size over (1, 16, 64) for a synthetic 6,890-vertex SMPL-format body and, when its file exists, the
packaged open body; float32 on CPU and on CUDA when present. Not part of the test run::

    python benchmarks/bm_lbs.py [--repeats 20] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for the tests.body fixture

from egohmr.body import BodyModel, load_body_model  # noqa: E402
from egohmr.body.io import OPEN_BODY_DIR  # noqa: E402
from egohmr.geometry import axis_angle_to_rotmat  # noqa: E402
from tests.body import random_body_arrays  # noqa: E402


def synthetic_smpl_sized() -> BodyModel:
    a = random_body_arrays(np.random.default_rng(0), num_vertices=6890)
    return BodyModel(a["v_template"], a["shapedirs"], a["posedirs"], a["J_regressor"], a["weights"],
                     a["kintree_table"][0].astype(np.int64), a["f"], a["landmark_vertex_ids"])  # fmt: skip


def time_forward(body: BodyModel, batch: int, device: torch.device, repeats: int) -> float:
    """Median milliseconds per forward (no grad)."""
    gen = torch.Generator().manual_seed(0)
    betas = torch.randn(batch, body.num_betas, generator=gen).to(device)
    rot = axis_angle_to_rotmat(torch.randn(batch, 24, 3, generator=gen) * 0.3).to(device)
    body = body.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    with torch.no_grad():
        for i in range(repeats + 3):
            sync()
            start = time.perf_counter()
            body(betas, rot[:, 0], rot[:, 1:])
            sync()
            if i >= 3:  # warm-up
                times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bodies = {"synthetic-6890": synthetic_smpl_sized()}
    if (OPEN_BODY_DIR / "open_body_neutral.npz").exists():
        bodies["open-neutral"] = load_body_model("open", "neutral")
    if (OPEN_BODY_DIR / "open_body_lowres_neutral.npz").exists():
        bodies["open-lowres-neutral"] = load_body_model("open-lowres", "neutral")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"{'body':<22}{'V':>7}{'device':>28}{'B':>5}{'ms/forward':>12}{'bodies/s':>11}")
    for name, body in bodies.items():
        for device in devices:
            dev_name = (
                torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
            )
            for batch in (1, 16, 64):
                ms = time_forward(body, batch, device, args.repeats)
                print(f"{name:<22}{body.num_vertices:>7}{dev_name:>28}{batch:>5}{ms:>12.2f}{1000 * batch / ms:>11.0f}")


if __name__ == "__main__":
    main()
