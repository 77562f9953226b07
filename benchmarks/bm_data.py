"""Throughput of the EgoBody data pipeline: preprocessing commands (frames/s) and the stage-2 loader (samples/s).

    .venv/bin/python benchmarks/bm_data.py                      # tiny test EgoBody (tests/data/tiny_egobody.py)
    .venv/bin/python benchmarks/bm_data.py --dataset SYNTH_ROOT  # a dataset written by `egohmr synth --out SYNTH_ROOT`
        [--body open] [--num-points 20000] [--batches 20]

Prints one table row per measurement: what, setting, items, seconds, items/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _row(what: str, setting: str, items: int, seconds: float) -> None:
    print(f"{what:<22} {setting:<26} {items:>7d} {seconds:>9.3f} s {items / max(seconds, 1e-9):>10.1f} /s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", help="EgoBody-layout root (default: build the tiny test set)")
    parser.add_argument("--body", default=None, help="body model source for scene-s2-train")
    parser.add_argument("--num-points", type=int, default=None, help="points per frame (default 150 tiny / 20000)")
    parser.add_argument("--batches", type=int, default=20, help="loader batches to time (batch 16)")
    parser.add_argument("--crop", type=int, default=224, help="crop size")
    args = parser.parse_args()

    import torch
    from torch.utils.data import DataLoader

    from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
    from egohmr.data.stats import pose_stats_for_split
    from egohmr.preprocess.scene_s1 import SceneS1Options, run_scene_s1
    from egohmr.preprocess.scene_s2 import SceneS2Options, run_scene_s2

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bm_data_"))
    if args.dataset is None:
        from tests.data.tiny_egobody import write_tiny_egobody

        tiny = write_tiny_egobody(work / "egobody")
        root, body, npts, npts_s1 = str(tiny.root), str(tiny.body_path), args.num_points or 150, 500
    else:
        root, body = args.dataset, args.body or "open"
        npts = npts_s1 = args.num_points or 20000
    print(f"dataset {root}, {npts} points, device cpu, torch threads 1")
    print(f"{'what':<22} {'setting':<26} {'items':>7} {'time':>11} {'rate':>12}")
    for workers in (0, 2):
        t = time.perf_counter()
        r1 = run_scene_s1(
            SceneS1Options(root, "train", str(work / f"s1_{workers}"), num_points=npts_s1, num_workers=workers),
            progress=False,
        )
        _row("preprocess scene-s1", f"workers={workers}", r1.num_saved, time.perf_counter() - t)
        t = time.perf_counter()
        r2 = run_scene_s2(
            SceneS2Options(
                root, "train", str(work / f"s2_{workers}"), body_model=body, num_points=npts, num_workers=workers
            ),
            progress=False,
        )
        _row("preprocess scene-s2", f"train workers={workers}", r2.num_computed, time.perf_counter() - t)
    t = time.perf_counter()
    stats = pose_stats_for_split(root, "train")
    _row("preprocess stats", "train", stats.num_frames, time.perf_counter() - t)

    opts = EgoBodyDataOptions(
        root=root,
        split="train",
        stage=2,
        scene_dir=str(work / "s2_0"),
        num_scene_points=npts,
        augment=True,
        crop_size_px=args.crop,
    )
    ds = EgoBodyDataset(opts)
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=16, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
        n, t = 0, time.perf_counter()
        while n < args.batches * 16:
            for batch in loader:
                n += batch["index"].shape[0]
                if n >= args.batches * 16:
                    break
        _row("stage-2 loader", f"batch=16 workers={workers}", n, time.perf_counter() - t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
