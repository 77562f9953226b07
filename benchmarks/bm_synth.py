"""Benchmark of the synthetic EgoBody generator: frames per second at 1920x1080 (or any size).

Usage::

    .venv/bin/python benchmarks/bm_synth.py                       # 1 and 2 workers, 3 scenes, 6 recordings, 300 frames
    .venv/bin/python benchmarks/bm_synth.py --workers 2 --frames 120 --grid docs/img/synth_grid.png

Prints one row per worker count: frames, wall seconds, frames/s, seconds per frame spent rendering (inside the
workers), truncated fraction and the render backend. Optionally writes a picture grid of sample frames with the
visible OpenPose keypoints (yellow) and the bbox of the loader (green, scale x 200 x 1.2).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np


def picture_grid(root: Path, out: Path, per_recording: int = 2, columns: int = 3, tile=(480, 270)) -> None:
    """Save a grid of frames (``per_recording`` per recording) with keypoints and bboxes drawn."""
    from PIL import Image, ImageDraw

    from egohmr.data import egobody_format as fmt

    picks: dict[str, list] = {}
    for split in fmt.SPLITS:
        data = fmt.read_annotation_npz(fmt.annotation_path(root, split))
        recs = np.array([fmt.parse_imgname(str(n)).recording for n in data["imgname"]])
        for rec in dict.fromkeys(recs.tolist()):
            idx = np.nonzero(recs == rec)[0]
            for k in np.linspace(0, len(idx) - 1, per_recording).round().astype(int):
                picks.setdefault(rec, []).append((data, int(idx[k])))
    tiles = []
    for rec in sorted(picks):
        for data, i in picks[rec]:
            im = Image.open(root / str(data["imgname"][i])).convert("RGB")
            draw = ImageDraw.Draw(im)
            r = max(2.0, im.size[0] / 320)
            for x, y, c in data["valid_keypoints"][i]:
                if c > 0:
                    draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 230, 0))
            cx, cy = data["center"][i]
            h = float(data["scale"][i]) * 100.0 * 1.2
            draw.rectangle([cx - h, cy - h, cx + h, cy + h], outline=(0, 255, 0), width=max(1, int(r)))
            tiles.append(np.asarray(im.resize(tile)))
    n = len(tiles) - len(tiles) % columns
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, n, columns)]
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--recordings", type=int, default=6)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--renderer", default="auto", choices=("auto", "egl", "numpy"))
    parser.add_argument("--grid", type=Path, default=None, help="write a picture grid of the last run here")
    args = parser.parse_args()

    from egohmr.render import egl_available
    from egohmr.synth.generate import SynthConfig, generate_dataset

    backend = args.renderer if args.renderer != "auto" else ("egl" if egl_available() else "numpy")
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} size={args.width}x{args.height} backend={backend}")
    print(f"{'workers':>7} {'frames':>6} {'wall_s':>7} {'frames/s':>8} {'render_ms/frame':>15} {'truncated':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            out = Path(tmp) / f"w{w}"
            cfg = SynthConfig(
                out=out,
                seed=0,
                num_scenes=args.scenes,
                num_recordings=args.recordings,
                num_frames=args.frames,
                width=args.width,
                height=args.height,
                workers=w,
                renderer=args.renderer,
            )
            s = generate_dataset(cfg)
            render_ms = 1000 * sum(r["render_seconds"] for r in s.recordings) / s.frames
            fps, trunc = s.frames / s.seconds, s.truncated_fraction
            print(f"{w:>7} {s.frames:>6} {s.seconds:>7.1f} {fps:>8.1f} {render_ms:>15.0f} {trunc:>9.0%}")
        if args.grid is not None:
            picture_grid(out, args.grid)
            print(f"grid -> {args.grid}")


if __name__ == "__main__":
    main()
