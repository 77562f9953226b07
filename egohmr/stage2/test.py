"""`egohmr test stage2`: sample S poses per test image, write the results files, compute the metrics.

    egohmr test stage2 --checkpoint RUN/best.pt --dataset DATA --scene-dir CUBES_FROM_PRED \\
        --stage1-results S1/results.pkl --num-samples 5 --sampler ddpm --steps 50 --fuse --guidance --out OUT
    torchrun --nproc_per_node 4 -m egohmr.stage2.test ...same flags...     # shards over 4 processes

(also ``python -m egohmr.stage2.test``). ``--checkpoint`` takes our checkpoints or an official
``best_model_mpjpe_vis.pt`` (with ``preprocess_stats.npz`` beside it or in ``preprocess_stats/``).

Sharding and resume: the test frames are cut into chunks of ``--chunk-size`` frames; chunk k belongs to rank
k mod world size and is written atomically to ``OUT/chunks/chunk_<k>.pt`` with its own seed (``seed``, k), so the
result does not depend on the number of processes. A killed run started again with the same flags skips finished
chunks. When every chunk exists, rank 0 merges them into ``OUT/results.npz`` (ours), ``OUT/results_seed_<seed>.pkl``
(official layout, collision/contact filled in by the evaluation) and ``OUT/metrics.json`` / ``metrics.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["add_test_arguments", "main", "run_test", "spacing_for"]

logger = logging.getLogger(__name__)


def spacing_for(sampler: str, steps: int, num_train_timesteps: int = 50) -> str:
    """Respacing string of ``--sampler/--steps``: DDPM over all T steps -> ``""``; DDIM K -> ``ddimK`` when an
    integer stride gives exactly K steps (``ddim5`` official), else ``"K"`` (evenly spread)."""
    from egohmr.diffusion.schedule import space_timesteps

    if steps < 1 or steps > num_train_timesteps:
        raise ValueError(f"--steps must be in 1..{num_train_timesteps}, got {steps}")
    if sampler == "ddpm":
        return "" if steps == num_train_timesteps else str(steps)
    try:
        space_timesteps(num_train_timesteps, f"ddim{steps}")
        return f"ddim{steps}"
    except ValueError:
        return str(steps)


def _load_model(path: Path) -> tuple[Any, Any]:
    from egohmr.stage2.config import Stage2Config
    from egohmr.stage2.model import import_official_stage2, load_stage2_checkpoint
    from egohmr.train import CheckpointError

    try:
        return load_stage2_checkpoint(path)
    except CheckpointError as err:
        if "official EgoHMR stage-2" not in str(err):
            raise
    cfg = Stage2Config()
    logger.info("%s is an official EgoHMR checkpoint: importing it with the official architecture", path)
    return import_official_stage2(path, cfg=cfg), cfg


TRANSLATION_FIELDS = {"stage1": ("transl_stage1_pv", "transl_stage1"), "gt": ("transl_pv", "transl_pv")}
"""``--translation`` -> (batch field, `EgoBodyDataset` attribute) of the translation (PV frame, metres) that conditions
stage 2 and places its bodies."""


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "checkpoint": str(Path(args.checkpoint).resolve()),
        "split": args.split,
        "num_samples": args.num_samples,
        "sampler": args.sampler,
        "steps": args.steps,
        "fuse": args.fuse,
        "guidance": args.guidance,
        "guidance_weight": args.guidance_weight,
        "return_mode": args.return_mode,
        "mode": args.mode,
        "seed": args.seed,
        "chunk_size": args.chunk_size,
        "stage1_results": str(args.stage1_results),
        "scene_dir": str(args.scene_dir),
        "translation": args.translation,
        "visible_noise_scale": args.visible_noise_scale,
    }


def _rank_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def run_test(args: argparse.Namespace) -> int:
    """Run ``egohmr test stage2`` (module docstring); returns the exit code."""
    from torch.utils.data import DataLoader, Subset

    from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
    from egohmr.diffusion.schedulers import build_scheduler
    from egohmr.files import atomic_torch_save, atomic_write_text
    from egohmr.stage2.pipeline import build_guidance, predict_samples
    from egohmr.train.data import to_device

    rank, world = _rank_world()
    out = Path(args.out)
    chunk_dir = out / "chunks"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    device = (
        torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if args.device == "cuda"
        else torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else "cpu")
    )
    model, cfg = _load_model(Path(args.checkpoint))
    if args.visible_noise_scale is None:  # the checkpoint says how it is sampled
        args = argparse.Namespace(**vars(args) | {"visible_noise_scale": cfg.test.visible_noise_scale})
    settings = _settings(args)
    manifest = chunk_dir / "settings.json"
    if rank == 0:
        if manifest.is_file() and json.loads(manifest.read_text()) != settings:
            raise ValueError(
                f"{out} holds chunks of a run with other settings ({manifest}); use another --out or delete it"
            )
        atomic_write_text(manifest, json.dumps(settings, indent=1, sort_keys=True))

    guidance_cfg = replace(cfg.test.guidance, enabled=args.guidance)
    if args.guidance_weight is not None:
        guidance_cfg = replace(guidance_cfg, weight=args.guidance_weight)
    cfg = replace(cfg, test=replace(cfg.test, guidance=guidance_cfg))
    model.cfg = cfg
    model.to(device).eval()
    if args.body is not None:
        from egohmr.body import load_body_model

        model.set_body_models(*(load_body_model(args.body, g) for g in ("neutral", "male", "female")))
    scheduler = build_scheduler(cfg.schedule, args.sampler, spacing_for(args.sampler, args.steps))
    guidance = build_guidance(model, cfg.test)

    dataset = EgoBodyDataset(
        EgoBodyDataOptions(
            root=str(args.dataset),
            split=args.split,
            stage=2,
            scene_dir=str(args.scene_dir),
            stage1_results=str(args.stage1_results),
            num_scene_points=cfg.data.num_scene_points_file,
            pelvis_vis_loosen=cfg.data.pelvis_vis_loosen_test,
            load_images=True,
        )
    )
    n = len(dataset)
    chunks = [(k, s, min(s + args.chunk_size, n)) for k, s in enumerate(range(0, n, args.chunk_size))]
    mine = [c for c in chunks if c[0] % world == rank]
    for k, start, stop in mine:
        path = chunk_dir / f"chunk_{k:05d}.pt"
        if path.is_file():
            continue
        loader = DataLoader(Subset(dataset, range(start, stop)), batch_size=args.batch_size, num_workers=args.workers)
        parts: dict[str, list[torch.Tensor]] = {"betas": [], "go": [], "bp": []}
        seconds = 0.0
        generator = torch.Generator(device=device).manual_seed(args.seed * 1_000_003 + k)
        for batch in loader:
            batch = to_device(batch, device)
            tic = time.perf_counter()
            out_s = predict_samples(
                model,
                batch,
                batch[TRANSLATION_FIELDS[args.translation][0]],
                args.num_samples,
                scheduler,
                fuse=args.fuse,
                guidance=guidance,
                generator=generator,
                return_mode=args.return_mode,
                mode=args.mode,
                visible_noise_scale=args.visible_noise_scale,
            )
            seconds += time.perf_counter() - tic
            parts["betas"].append(out_s.betas.cpu())
            parts["go"].append(out_s.global_orient_rotmat.cpu())
            parts["bp"].append(out_s.body_pose_rotmat.cpu())
        atomic_torch_save(
            {k2: torch.cat(v).float() for k2, v in parts.items()}
            | {"rows": torch.arange(start, stop), "seconds": seconds},
            path,
        )
        logger.info("rank %d: chunk %d (frames %d-%d) in %.1f s", rank, k, start, stop - 1, seconds)

    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        dist.barrier()
        dist.destroy_process_group()
    if rank != 0:
        return 0
    missing = [k for k, _, _ in chunks if not (chunk_dir / f"chunk_{k:05d}.pt").is_file()]
    if missing:
        raise FileNotFoundError(f"chunks {missing[:10]} missing in {chunk_dir}; run the command again to finish them")
    return _merge_and_evaluate(args, cfg, model, dataset, chunks, chunk_dir, out)


def _merge_and_evaluate(args, cfg, model, dataset, chunks, chunk_dir: Path, out: Path) -> int:
    from egohmr.data.egobody_format import annotation_path
    from egohmr.evaluate.ground_truth import load_annotations
    from egohmr.evaluate.inside import get_inside_test
    from egohmr.evaluate.pipeline import BodyModels, evaluate_results
    from egohmr.evaluate.report import write_metrics_json, write_metrics_md
    from egohmr.evaluate.results_io import PredictionResults, write_official_stage2, write_results
    from egohmr.evaluate.scene_cubes import SceneCubeSource
    from egohmr.evaluate.settings import EvalSettings

    data = [torch.load(chunk_dir / f"chunk_{k:05d}.pt", weights_only=True) for k, _, _ in chunks]
    seconds = float(sum(d["seconds"] for d in data))
    results = PredictionResults(
        pred_betas=torch.cat([d["betas"] for d in data]).numpy(),
        pred_global_orient_rotmat=torch.cat([d["go"] for d in data]).numpy(),
        pred_body_pose_rotmat=torch.cat([d["bp"] for d in data]).numpy(),
        pred_transl_pv=getattr(dataset, TRANSLATION_FIELDS[args.translation][1]).astype(np.float32),
        imgname=np.asarray(dataset.imgnames),
        metadata=_settings(args),
        gt_transl_pv=dataset.transl_pv.astype(np.float32),
    )
    write_results(out / "results.npz", results)
    bodies = model.bodies()
    annotations = load_annotations(annotation_path(args.dataset, args.split))
    scene = SceneCubeSource(args.dataset, args.scene_dir, args.split) if not args.no_collision else None
    output = evaluate_results(
        results,
        annotations,
        BodyModels(bodies["neutral"].cpu(), bodies["male"].cpu(), bodies["female"].cpu()),
        EvalSettings(mode=args.metric_mode),
        scene_points=scene,
        inside_test=get_inside_test(args.inside_test) if scene is not None else None,
        where=str(out / "results.npz"),
    )
    if scene is not None:
        results.stored_collision_ratio = output.stats.collision
        results.stored_contact_ratio = output.stats.contact
    write_official_stage2(out / f"results_seed_{args.seed}.pkl", results)
    metrics = dict(output.metrics)
    metrics["seconds_per_image"] = seconds / max(results.num_frames, 1)
    info = _settings(args) | {
        "metric_mode": args.metric_mode,
        "num_frames": results.num_frames,
        "results_file": str(out / "results.npz"),
    }
    write_metrics_json(out / "metrics.json", metrics, info)
    write_metrics_md(out / "metrics.md", metrics, info)
    m = metrics
    print(
        f"stage 2 [{args.sampler}-{args.steps}{' fuse' if args.fuse else ''}{' guidance' if args.guidance else ''}, "
        f"{args.num_samples} samples, {results.num_frames} frames]: MPJPE vis {m['mpjpe_vis_mm']:.1f} mm, "
        f"best-of-{args.num_samples} invis {m['min_mpjpe_invis_mm']:.1f} mm, mean invis {m['mpjpe_invis_mm']:.1f} mm, "
        f"APD {m.get('apd_joints_mm', float('nan')):.1f} mm, collision {m['collision_ratio']:.4f}, "
        f"contact {m['contact_ratio']:.3f}, {m['seconds_per_image']:.2f} s/image"
    )
    print(f"results and metrics written to {out}")
    return 0


def add_test_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``egohmr test stage2``."""
    parser.add_argument("--checkpoint", type=Path, required=True, help="stage-2 checkpoint (ours or official)")
    parser.add_argument("--dataset", type=Path, required=True, help="EgoBody root")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--scene-dir", type=Path, required=True, help="stage-2 cubes around the stage-1 translation")
    parser.add_argument("--stage1-results", type=Path, required=True, help="stage-1 results.pkl of the split")
    parser.add_argument(
        "--translation",
        default="stage1",
        choices=tuple(TRANSLATION_FIELDS),
        help="body translation that conditions stage 2 and places its bodies: stage1 (official) or gt (diagnostic: "
        "separates pose errors from translation errors)",
    )
    parser.add_argument("--num-samples", type=int, default=1, help="samples per image (official default 1)")
    parser.add_argument("--sampler", default="ddpm", choices=("ddpm", "ddim"))
    parser.add_argument("--steps", type=int, default=50, help="denoising steps (ddpm 50 official; ddim 5 = ddim5)")
    parser.add_argument("--fuse", action=argparse.BooleanOptionalAction, default=True, help="diffuse_fuse")
    parser.add_argument("--guidance", action=argparse.BooleanOptionalAction, default=True, help="collision guidance")
    parser.add_argument("--guidance-weight", type=float, default=None, help="override the guidance weight")
    parser.add_argument("--return-mode", default="official", choices=("official", "final"))
    parser.add_argument(
        "--visible-noise-scale",
        type=float,
        default=None,
        help="sampling noise factor on visible joints (default: the checkpoint's test.visible_noise_scale)",
    )
    parser.add_argument("--mode", default="fast", choices=("fast", "reference"))
    parser.add_argument("--batch-size", type=int, default=5, help="images per batch")
    parser.add_argument("--chunk-size", type=int, default=64, help="frames per chunk file (resume granularity)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--body", default=None, help="body model source for guidance and metrics (default: config)")
    parser.add_argument("--metric-mode", default="corrected", choices=("corrected", "official"))
    parser.add_argument(
        "--inside-test", default="fast_winding_number", choices=("fast_winding_number", "exact", "trimesh")
    )
    parser.add_argument("--no-collision", action="store_true", help="skip collision/contact metrics")
    parser.add_argument("--out", type=Path, required=True, help="output folder")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m egohmr.stage2.test`` / ``torchrun -m egohmr.stage2.test`` entry point."""
    parser = argparse.ArgumentParser(prog="egohmr test stage2", description="sample and evaluate stage 2")
    add_test_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_test(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
