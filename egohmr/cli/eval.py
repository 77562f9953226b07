"""`egohmr eval`: evaluate a results file (ours or the official stage-2 pickle) and write the reports.

Outputs in `--out` (`egohmr.evaluate.report.write_report`): metrics.json (every number and the settings),
per_frame.csv, metrics.md and PNG plots.
Definitions: docs/metrics.md.
"""

from __future__ import annotations

import argparse
import datetime
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

ALL_SPLITS = "all"
"""`--split` value: the frames of every split present, in split order (what `egohmr demo` predicts)."""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `eval` subcommand."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a results file (ours or official) against EgoBody GT",
        description="Compute every EgoHMR metric for a results file and write metrics.json, per_frame.csv, "
        "metrics.md and plots. Accepts our results .npz and the official output_egohmr_*/results_seed_*.pkl.",
    )
    parser.add_argument("results", type=Path, help="results file: egohmr .npz or official results_seed_<seed>.pkl")
    parser.add_argument("--dataset", type=Path, required=True, help="EgoBody root (annotation_egocentric_smpl_npz/...)")
    parser.add_argument(
        "--split",
        default=None,
        choices=("train", "val", "test", ALL_SPLITS),
        help="split (default: test, or 'all' when the results name the frames of every split in order, as the demo's "
        "results.npz does); 'all': every split's frames, train, val, test",
    )
    parser.add_argument(
        "--body",
        default="open",
        help="body model source: 'open' (packaged open body, default), 'open-lowres', or a folder with "
        "SMPL_{NEUTRAL,MALE,FEMALE}.pkl (official numbers need the real SMPL files)",
    )
    parser.add_argument(
        "--allow-body-mismatch",
        action="store_true",
        help="evaluate results whose recorded body model (name + hash) differs from --body (refused otherwise)",
    )
    parser.add_argument(
        "--mode",
        default="corrected",
        choices=("corrected", "official"),
        help="metric definitions: 'corrected' (default) or 'official' (reproduces the official quirks)",
    )
    parser.add_argument(
        "--scene-dir",
        type=Path,
        default=None,
        help="stage-2 scene cubes (<dir>/<split>/<recording>/<holo_time>/<frame>.npy); collision/contact are "
        "skipped without it",
    )
    parser.add_argument(
        "--inside-test",
        default="fast_winding_number",
        choices=("fast_winding_number", "exact", "trimesh"),
        help="point-in-body test of the collision ratio (default: fast_winding_number)",
    )
    parser.add_argument("--image-size", type=int, nargs=2, default=(1920, 1080), metavar=("W", "H"))
    parser.add_argument("--batch-size", type=int, default=16, help="frames posed at once")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; returns the exit code."""
    from egohmr import __version__
    from egohmr.body import load_body_model, resolve_body_path
    from egohmr.body.identity import body_model_id
    from egohmr.evaluate.inside import get_inside_test
    from egohmr.evaluate.pipeline import BodyModels, check_body_model, evaluate_results
    from egohmr.evaluate.report import write_report
    from egohmr.evaluate.results_io import load_any_results
    from egohmr.evaluate.settings import EvalSettings

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    settings = EvalSettings(mode=args.mode, image_size_px=tuple(args.image_size))
    results = load_any_results(args.results)
    body_id = body_model_id(args.body)
    check_body_model(results, body_id, str(args.results), args.allow_body_mismatch)
    split = args.split or _default_split(args.dataset, results)
    ann_paths = _annotation_paths(args.dataset, split)
    annotations = _load_split_annotations(ann_paths)
    bodies = BodyModels(*(load_body_model(args.body, g) for g in ("neutral", "male", "female")))

    scene_points = None
    if args.scene_dir is None:
        logger.info("no --scene-dir given: collision and contact ratios are not evaluated")
    else:
        from egohmr.evaluate.scene_cubes import SceneCubeSource

        if split == ALL_SPLITS:
            raise ValueError("--scene-dir holds one split's cubes; give --split train, val or test with it")
        scene_points = SceneCubeSource(args.dataset, args.scene_dir, split)

    def progress(done: int, total: int) -> None:
        if done == total or done % (args.batch_size * 50) < args.batch_size:
            logger.info("evaluated %d / %d frames", done, total)

    output = evaluate_results(
        results,
        annotations,
        bodies,
        settings,
        scene_points=scene_points,
        inside_test=get_inside_test(args.inside_test) if scene_points is not None else None,
        batch_size=args.batch_size,
        progress=progress,
        where=str(args.results),
    )
    info = {
        "mode": settings.mode,
        "image_size_px": list(settings.image_size_px),
        "contact_threshold_m": settings.contact_threshold_m,
        "pa_alignment": settings.pa_alignment,
        "body_source": str(args.body),
        "body_model": body_id,
        "body_files": [str(resolve_body_path(args.body, g)) for g in ("neutral", "male", "female")],
        "num_samples": results.num_samples,
        "num_frames": results.num_frames,
        "results_file": str(args.results),
        "results_format": results.source_format,
        "results_metadata": results.metadata,
        "annotation_file": ", ".join(str(p) for p in ann_paths),
        "split": split,
        "scene_dir": None if args.scene_dir is None else str(args.scene_dir),
        "inside_test": args.inside_test if scene_points is not None else None,
        "collision_contact_evaluated": scene_points is not None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "egohmr_version": __version__,
    }
    out = Path(args.out)
    write_report(out, output.metrics, info, output.stats, output.imgname, plots=not args.no_plots)
    m = output.metrics
    print(
        f"MPJPE {m['mpjpe_mm']:.2f} mm (vis {m['mpjpe_vis_mm']:.2f} / invis {m['mpjpe_invis_mm']:.2f}), "
        f"PA-MPJPE {m['pa_mpjpe_mm']:.2f} mm, G-MPJPE {m['g_mpjpe_mm']:.2f} mm, V2V {m['v2v_mm']:.2f} mm "
        f"[{settings.mode}, {results.num_samples} samples, {results.num_frames} frames]"
    )
    print(f"reports written to {out}")
    return 0


def _annotation_paths(dataset: Path, split: str) -> list[Path]:
    """The annotation npz of `split`, or of every split present for `all` (train, val, test order)."""
    from egohmr.data.egobody_format import SPLITS, annotation_path

    if split != ALL_SPLITS:
        return [annotation_path(dataset, split)]
    paths = [annotation_path(dataset, s) for s in SPLITS if annotation_path(dataset, s).is_file()]
    if not paths:
        raise FileNotFoundError(f"--split all: no annotation file of {list(SPLITS)} under {dataset}")
    return paths


def _load_split_annotations(paths: list[Path]):
    """`Annotations` of the files in `paths`, rows concatenated in order."""
    import numpy as np

    from egohmr.evaluate.ground_truth import load_annotations

    parts = [load_annotations(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    return type(parts[0])(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in parts[0].__dataclass_fields__})


def _default_split(dataset: Path, results) -> str:
    """`test`, unless the results name their frames and these are every split's frames in order (the demo's file)."""
    if results.imgname is None:
        return "test"
    test_paths = _annotation_paths(dataset, "test")
    if test_paths[0].is_file() and _names_match(results.imgname, _load_split_annotations(test_paths).imgname):
        return "test"
    try:
        every = _load_split_annotations(_annotation_paths(dataset, ALL_SPLITS)).imgname
    except FileNotFoundError:
        return "test"
    return ALL_SPLITS if _names_match(results.imgname, every) else "test"


def _names_match(ours, theirs) -> bool:
    import numpy as np

    norm = lambda names: np.char.replace(np.asarray(names).astype(str), "\\", "/")  # noqa: E731
    return len(ours) == len(theirs) and bool(np.all(norm(ours) == norm(theirs)))
