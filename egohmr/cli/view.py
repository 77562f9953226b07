"""`egohmr view OUTPUT_DIR`: an interactive 3D viewer of an output folder in the browser (viser, on 127.0.0.1).

Shows the scene crop, the GT and every sample of each frame record (``OUTPUT_DIR/frames/*.npz``, written by
`egohmr demo` / `egohmr infer`) with a frame slider. viser is an optional dependency: ``pip install 'egohmr[viewer]'``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
VIEWER_HELP = "the viewer needs viser; install it with: pip install 'egohmr[viewer]'"


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `view` subcommand."""
    parser = subparsers.add_parser(
        "view",
        help="interactive 3D viewer of an output folder in the browser (needs egohmr[viewer])",
        description="Serve an interactive 3D view (scene, GT, samples, frame slider) of the frame records in "
        f"OUTPUT_DIR/frames on http://{HOST}:PORT. Stop with Ctrl-C.",
    )
    parser.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", help="folder written by egohmr demo / infer")
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default: 8080)")
    parser.set_defaults(func=run)
    return parser


def record_paths_or_raise(output_dir: Path) -> list[Path]:
    """The frame records of `output_dir`.

    Raises:
        FileNotFoundError: the folder does not exist or holds no frame records.
    """
    from egohmr.outputs.frame_record import FRAMES_DIR, find_frame_records

    if not output_dir.is_dir():
        raise FileNotFoundError(f"output folder {output_dir} does not exist")
    paths = find_frame_records(output_dir)
    if not paths:
        raise FileNotFoundError(
            f"no frame records in {output_dir / FRAMES_DIR} (expected *.npz written by 'egohmr demo' or "
            "'egohmr infer'); pass the folder those commands printed"
        )
    return paths


def _import_viser():
    try:
        import viser
    except ImportError as err:
        from egohmr.cli.main import UserError

        raise UserError(f"{VIEWER_HELP} ({err})") from err
    return viser


def run(args: argparse.Namespace) -> int:
    """Serve the viewer until Ctrl-C; returns the exit code."""
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    paths = record_paths_or_raise(args.output_dir)
    viser = _import_viser()
    from egohmr.outputs.viewer import FrameViewer

    server = viser.ViserServer(host=HOST, port=args.port, verbose=False)
    try:
        FrameViewer(server, paths)
        port = server.get_port()  # viser moves to the next free port when --port is taken
        moved = f" (port {args.port} was busy)" if port != args.port else ""
        print(
            f"egohmr view: {len(paths)} frame(s) from {args.output_dir} at http://{HOST}:{port}{moved} (Ctrl-C stops)"
        )
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
