"""`egohmr view OUTPUT_DIR [--run NAME]`: an interactive 3D viewer of an output folder in the browser (viser, on
127.0.0.1).

A folder with a sequence results file (``sequence_<run>.npz`` of `egohmr infer --frames`; the newest run, or
``--run NAME``) is shown as a whole recording in its scene (`egohmr.outputs.sequence_viewer`): the room, each frame's
samples and PV camera, a frame slider that plays, the view through the PV camera. Otherwise the viewer shows the scene
crop, the GT and every sample of each frame record (``OUTPUT_DIR/frames/*.npz``, written by `egohmr demo` /
`egohmr infer`) with a frame slider (`egohmr.outputs.viewer`). viser is an optional dependency:
``pip install 'egohmr[viewer]'``.
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
        description=f"Serve an interactive 3D view on http://{HOST}:PORT (stop with Ctrl-C). A folder of 'egohmr "
        "infer --frames' shows its newest run (or --run NAME) in the scene: the room, every frame's samples and PV "
        "camera, a frame slider that plays, and the view through the PV camera. Other folders show their frame "
        "records (OUTPUT_DIR/frames: scene crop, GT, samples) one frame at a time.",
    )
    parser.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", help="folder written by egohmr demo / infer")
    parser.add_argument(
        "--run",
        default=None,
        metavar="NAME",
        help="sequence run to show: <frames>_runNN of OUTPUT_DIR/sequence_<frames>_runNN.npz (default: the newest)",
    )
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


def sequence_results_or_none(output_dir: Path, run: str | None) -> Path | None:
    """The sequence results file to show (module docstring), or None when `output_dir` holds none and no --run.

    Raises:
        FileNotFoundError: `output_dir` does not exist.
        ValueError: --run names no run of `output_dir` (the message lists them).
    """
    from egohmr.outputs.sequence_outputs import select_sequence_run

    if not output_dir.is_dir():
        raise FileNotFoundError(f"output folder {output_dir} does not exist")
    return select_sequence_run(output_dir, run)


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
    results = sequence_results_or_none(args.output_dir, args.run)
    paths = record_paths_or_raise(args.output_dir) if results is None else []
    viser = _import_viser()
    from egohmr.outputs.sequence_viewer import SequenceViewer
    from egohmr.outputs.viewer import FrameViewer

    server = viser.ViserServer(host=HOST, port=args.port, verbose=False)
    viewer = None
    try:
        if results is not None:
            viewer = SequenceViewer(server, results)
            viewer.start()
            what = f"run {viewer.seq.run} ({viewer.seq.num_frames} frame(s))"
        else:
            FrameViewer(server, paths)
            what = f"{len(paths)} frame(s)"
        port = server.get_port()  # viser moves to the next free port when --port is taken
        moved = f" (port {args.port} was busy)" if port != args.port else ""
        print(f"egohmr view: {what} from {args.output_dir} at http://{HOST}:{port}{moved} (Ctrl-C stops)")
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        if viewer is not None:
            viewer.close()  # the player thread stops before the server
        server.stop()
    return 0
