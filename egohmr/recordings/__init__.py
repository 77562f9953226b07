"""Your own recordings as pipeline inputs: frames, 2D keypoints (OpenPose BODY_25, COCO-17, COCO-WholeBody) or body
boxes, a scene mesh or point cloud, intrinsics and camera poses, checked and brought to what `EgoHMRPipeline` takes
(docs/infer.md).

Modules, one job each: `frames` (image list), `keypoint_maps` (COCO <-> BODY_25), `keypoints` (keypoint files),
`boxes` (user boxes), `person` (person choice, box rule), `scene` (scene points, surface sampling), `intrinsics`,
`poses` (camera poses -> world2pv), `recording` (`load_recording`, `Recording`), `export` (an EgoBody-format
recording written in these formats).
"""

from egohmr.recordings.recording import Recording, RecordingFrame, load_recording

__all__ = ["Recording", "RecordingFrame", "load_recording"]
