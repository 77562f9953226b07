"""What `egohmr demo` and `egohmr infer` write, from plain numpy arrays (no model code).

Typical use, one `FrameRecord` per frame, then the page over the folder::

    from egohmr.outputs import FrameRecord, frame_stem, write_frame_outputs, write_html_report
    rec = FrameRecord(name=imgname, intrinsics_px=(fx, fy, cx, cy), bbox_px=(x1, y1, x2, y2),
                      scene_points_pv=points, pred_vertices_pv=verts_s, faces=faces, image=img,
                      gt_vertices_pv=gt_verts, metrics=frame_metrics, joint_visible=vis)
    write_frame_outputs(rec, out_dir, stem=frame_stem(imgname, i))   # frames/<stem>{.npz,_overlay.png,_scene.png,.glb}
    write_html_report(out_dir)                                        # index.html (after the evaluation reports)

Layout and viewers: docs/outputs.md. Modules: `frame_record` (record + .npz), `overlay` (image overlays),
`scene_view` (render in the 3D scene), `scene_export` (.glb), `html_report` (index.html), `viewer` (viser scene),
`writer` (all per-frame files), `sequence_outputs` (the results file and .glb of an `egohmr infer` sequence),
`palette` (colours).
"""

from egohmr.outputs.frame_record import (
    FRAMES_DIR,
    FrameRecord,
    find_frame_records,
    frame_stem,
    load_frame_record,
    save_frame_record,
)
from egohmr.outputs.html_report import write_html_report
from egohmr.outputs.writer import FrameOutputs, frame_output_paths, write_frame_outputs

__all__ = [
    "FRAMES_DIR",
    "FrameOutputs",
    "FrameRecord",
    "find_frame_records",
    "frame_output_paths",
    "frame_stem",
    "load_frame_record",
    "save_frame_record",
    "write_frame_outputs",
    "write_html_report",
]
