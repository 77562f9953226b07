"""`EgoHMRPipeline.predict_frames`: several images in one batched stage-2 call give each image what it gets alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.api.frames import load_frame

SETTINGS = {"num_samples": 2, "sampler": "ddim", "steps": 5, "guidance": True}


def _inputs(frame):
    from egohmr.pipeline.core import FrameInputs

    key = Path(frame.name).stem
    return FrameInputs(
        frame.image, frame.intrinsics, frame.bbox, frame.verts_scene, key, frame.scene2pv, frame.keypoints
    )


def test_a_batch_of_frames_equals_each_frame_alone(pipe, tiny_demo):
    from egohmr.pipeline.sampling import SamplingOverrides

    settings = pipe.sampling_settings(overrides=SamplingOverrides(**SETTINGS))
    frames = [load_frame(tiny_demo / "dataset", i) for i in (0, 1)]
    batched = pipe.predict_frames([_inputs(f) for f in frames], settings)
    assert len(batched) == len(frames)
    for frame, result in zip(frames, batched, strict=True):
        alone = pipe(
            frame.image, frame.intrinsics, frame.bbox, frame.verts_scene, frame.scene2pv, frame.keypoints,
            settings=settings, frame_key=Path(frame.name).stem,
        )  # fmt: skip
        np.testing.assert_allclose(result.transl_pv, alone.transl_pv, atol=1e-6)
        np.testing.assert_allclose(result.body_pose_rotmat, alone.body_pose_rotmat, atol=1e-4)
        np.testing.assert_allclose(result.vertices_pv, alone.vertices_pv, atol=1e-4)
        assert set(result.seconds) == {"stage1", "scene", "stage2", "bodies"}
    assert not np.allclose(batched[0].body_pose_rotmat, batched[1].body_pose_rotmat, atol=1e-3)
    assert pipe.predict_frames([], settings) == []


def test_frames_per_call_from_the_batch_size_or_a_memory_cap(pipe, tiny_demo):
    import dataclasses

    from egohmr.pipeline.sampling import SamplingOverrides

    settings = pipe.sampling_settings(overrides=SamplingOverrides(**SETTINGS))
    frame = _inputs(load_frame(tiny_demo / "dataset", 0))
    assert pipe.images_per_batch(frame, dataclasses.replace(settings, batch_size=3)) == 3
    assert pipe.images_per_batch(frame, dataclasses.replace(settings, max_memory_gb=64.0)) > 3
    with pytest.raises(ValueError, match="max_memory_gb"):
        pipe.images_per_batch(frame, dataclasses.replace(settings, max_memory_gb=1e-6))
