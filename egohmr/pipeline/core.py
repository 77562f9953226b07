"""`EgoHMRPipeline`: one egocentric image + scene -> S body samples (stage 1 -> stage-2 scene crop -> stage 2).

::

    pipe = EgoHMRPipeline.from_pretrained()                      # shipped cpu checkpoints
    result = pipe(image, (fx, fy, cx, cy), (x1, y1, x2, y2), scene_points_pv, num_samples=5)
    result.vertices_pv  # (S, V, 3) metres, PV camera frame (OpenCV axes)

Sampling settings: a `Stage2TestConfig` (``settings=``), by default ``pipe.default_settings``, the demo preset of the
loaded stage-2 checkpoint (`egohmr.pipeline.sampling`); the keyword shorthands ``num_samples``, ``sampler``,
``steps``, ``fuse`` and ``guidance`` override single fields of it.

Steps for one image (docs/demo.md):

1. crop: square box centred on the body box, side ``max(w, h) * 1.2`` (the official ``--add_bbox_scale``), warped
   to the models' crop size (224) and ImageNet-normalised;
2. stage 1: scene points in front of the camera (20,000 down-sampled as ``egohmr preprocess scene-s1`` does, then the
   model's ``num_scene_points`` of them drawn as ``egohmr test stage1`` does) + crop -> the mode sample (z = 0); its
   translation ``transl_pv`` places every stage-2 sample;
3. stage-2 scene crop: the official test-time 2 x 2 x 2 m cube around ``transl_pv`` (random yaw about the vertical:
   the scene frame's y axis when ``world2pv`` is given, else the PV camera's -y), ``num_scene_points_file`` points;
4. visibility: from OpenPose keypoints (official map, loosened as at test time), else the stage-1 mode joints that
   project inside the body box and the image;
5. stage 2: batched sampling (`egohmr.stage2.pipeline.predict_samples`) as the settings say (by default fast, with
   diffuse_fuse and collision guidance);
6. bodies: every sample posed with the stage-2 neutral body model at the stage-1 translation.

Randomness: every draw (stage-1 points: repeats and subset; the cube's yaw and repeats; the stage-2 noise) comes from
the frame's streams (`egohmr.preprocess.sampling`): with ``frame_key`` (the image file stem) those of
``settings.seed`` and that key, the numbers ``egohmr preprocess`` and ``egohmr test stage2`` draw for the frame;
else those of a seed drawn from ``generator``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from egohmr.constants import CROP_SIZE_PX
from egohmr.geometry.frames import apply_transform
from egohmr.pipeline import inputs as I
from egohmr.pipeline.sampling import SamplingOverrides, demo_preset
from egohmr.preprocess.sampling import (
    SCENE_POINTS_PER_FRAME,
    SCENE_S1,
    SCENE_S2,
    STAGE1_SUBSET,
    frame_rng,
    subset_indices,
)
from egohmr.stage2.config import Stage2TestConfig

__all__ = ["EgoHMRPipeline", "EgoHMRResult", "FrameInputs", "load_scene_points"]

logger = logging.getLogger(__name__)

NO_OVERRIDES = SamplingOverrides()


@dataclass(frozen=True)
class EgoHMRResult:
    """Prediction for one image with S samples (sample order of stage 2; no sample is privileged).

    Attributes:
        betas: (S, 10) float32 neutral-body shape.
        global_orient_rotmat_pv: (S, 3, 3) float32, SMPL local -> PV frame.
        body_pose_rotmat: (S, 23, 3, 3) float32.
        transl_pv: (3,) float32, metres, PV frame: the stage-1 mode translation (shared by all samples).
        vertices_pv: (S, V, 3) float32, metres, PV frame.
        joints_pv: (S, 24, 3) float32, metres, PV frame.
        faces: (F, 3) int64 body faces.
        scene_points_pv: (P', 3) float32, metres, PV frame: the stage-2 scene crop.
        visibility: (24,) bool SMPL joint visibility used by diffuse_fuse.
        visibility_source: "keypoints" or "bbox".
        bbox_center_px: (2,) float64 crop-box centre; bbox_size_px: crop-box side (px).
        stage1_joints_pv: (24, 3) float32 joints of the stage-1 mode body, metres, PV frame.
        seconds: {"stage1": s, "scene": s, "stage2": s, "bodies": s} wall time of each step.
    """

    betas: np.ndarray
    global_orient_rotmat_pv: np.ndarray
    body_pose_rotmat: np.ndarray
    transl_pv: np.ndarray
    vertices_pv: np.ndarray
    joints_pv: np.ndarray
    faces: np.ndarray
    scene_points_pv: np.ndarray
    visibility: np.ndarray
    visibility_source: str
    bbox_center_px: np.ndarray
    bbox_size_px: float
    stage1_joints_pv: np.ndarray
    seconds: dict[str, float]

    @property
    def num_samples(self) -> int:
        return int(self.betas.shape[0])


def load_scene_points(path: str | Path) -> np.ndarray:
    """Scene points of a file: mesh vertices of ``.obj``/``.ply``, or a (P, 3) array in ``.npy``/``.npz`` (key
    ``points``, ``vertices`` or the only array).

    Returns:
        (P, 3) float64, in the file's frame and units.

    Raises:
        FileNotFoundError: no such file. ValueError: unsupported suffix or no (P, 3) array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scene file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".obj":
        from egohmr.data.scene_points import read_obj_vertices

        pts = read_obj_vertices(path)
    elif suffix == ".ply":
        import trimesh

        try:
            geom = trimesh.load(path, process=False)
            pts = np.asarray(geom.vertices if hasattr(geom, "vertices") else geom.dump(concatenate=True).vertices)
        except Exception as err:  # trimesh raises many types (KeyError, ValueError, IndexError) for malformed files
            raise ValueError(f"{path}: not a readable PLY mesh or point cloud ({type(err).__name__}: {err})") from None
    elif suffix == ".npy":
        pts = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            keys = [k for k in ("points", "vertices") if k in data.files] or list(data.files)
            if len(keys) != 1 and not any(k in data.files for k in ("points", "vertices")):
                raise ValueError(
                    f"{path}: expected an array 'points' or 'vertices' (or a single array), got {data.files}"
                )
            pts = data[keys[0]]
    else:
        raise ValueError(f"{path}: unsupported scene file type {suffix!r} (use .obj, .ply, .npy or .npz)")
    return I.check_points(pts, name=f"scene file {path}")


@dataclass(frozen=True)
class _Inputs:
    """Checked inputs of one call.

    Attributes:
        image: (H, W, 3) uint8 RGB. intrinsics: (fx, fy, cx, cy) px. bbox_px: (x1, y1, x2, y2) px.
        keypoints_op25: (25, 3) or None.
        scene_pv: (P, 3) float64 scene points, metres, PV frame.
        world2pv: (4, 4) world -> PV, or None when the scene was given in the PV frame.
    """

    image: np.ndarray
    intrinsics: tuple[float, float, float, float]
    bbox_px: tuple[float, float, float, float]
    keypoints_op25: np.ndarray | None
    scene_pv: np.ndarray
    world2pv: np.ndarray | None

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True)
class _Stage1Output:
    """What stage 1 hands to the rest of a call.

    Attributes:
        camera: batch fields of the camera and crop box (each (1, ...) on the pipeline's device).
        crop: (3, C, C) float32 normalised crop of the stage-1 size C. bbox_center_px: (2,); bbox_size_px: side px.
        transl_pv: (1, 3) metres, PV frame: the mode sample's translation (device tensor).
        joints_pv: (24, 3) float32 joints of the mode body, metres, PV frame.
    """

    camera: dict[str, torch.Tensor]
    crop: np.ndarray
    bbox_center_px: np.ndarray
    bbox_size_px: float
    transl_pv: torch.Tensor
    joints_pv: np.ndarray


@dataclass(frozen=True)
class _SceneOutput:
    """The stage-2 scene crop and the joint visibility of one call (points (P', 3) PV frame; visibility (24,) bool)."""

    cube_pv: np.ndarray
    visibility: np.ndarray
    visibility_source: str


@dataclass(frozen=True)
class FrameInputs:
    """One image's inputs to `EgoHMRPipeline.predict_frames` (the arguments of `EgoHMRPipeline.__call__`).

    Attributes:
        image: (H, W, 3) uint8 RGB. intrinsics: (fx, fy, cx, cy) px. bbox_px: (x1, y1, x2, y2) px.
        scene: (P, 3) points or a scene file, metres: PV frame without `world2pv`, else the world frame.
        key: the frame's key (its image file stem): every random draw comes from its streams of ``settings.seed``
            (frames with equal keys get equal draws).
        world2pv: optional (4, 4) world -> PV. keypoints_op25: optional (25, 3) OpenPose BODY_25.
    """

    image: np.ndarray
    intrinsics: tuple[float, float, float, float]
    bbox_px: tuple[float, float, float, float]
    scene: np.ndarray | str | Path
    key: str
    world2pv: np.ndarray | None = None
    keypoints_op25: np.ndarray | None = None


@dataclass(frozen=True)
class _Prepared:
    """A frame up to stage 2: checked inputs, stage-1 output, stage-2 scene crop, its key and step times (s)."""

    inputs: _Inputs
    stage1: _Stage1Output
    scene: _SceneOutput
    key: str
    seconds: dict[str, float]


def _f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


class EgoHMRPipeline:
    """Both stages and the glue between them (module docstring). Build with `from_pretrained`.

    Args:
        models: `egohmr.pipeline.checkpoints.StageModels`.
        device: torch device of the models.

    Attributes:
        default_settings: `Stage2TestConfig` of a call without ``settings``: the demo preset of the stage-2
            checkpoint (`egohmr.pipeline.sampling.demo_preset`).
    """

    def __init__(self, models: Any, device: torch.device) -> None:
        self.models = models
        self.device = device
        self.stage1 = models.stage1.to(device).eval()
        self.stage2 = models.stage2.to(device).eval()
        self.body = self.stage2.bodies()["neutral"]
        self.faces = np.asarray(self.body.faces.cpu().numpy() if torch.is_tensor(self.body.faces) else self.body.faces)
        self.default_settings = demo_preset(self.stage2.cfg.test)
        self._guidance: dict[Any, Any] = {}

    @classmethod
    def from_pretrained(
        cls, stage1: str | Path | None = None, stage2: str | Path | None = None, device: str | torch.device = "cpu"
    ) -> EgoHMRPipeline:
        """Load the models: None = the shipped cpu checkpoints; paths = our checkpoints (training or shipped) or the
        official EgoHMR files (stage-1 ``best_model.pt``; stage-2 ``best_model_mpjpe_vis.pt`` with its
        ``preprocess_stats.npz``).

        Args:
            stage1, stage2: checkpoint paths or None.
            device: "cpu", "cuda", "auto" (CUDA when available) or a torch.device.
        """
        from egohmr.pipeline.checkpoints import load_stage_models

        if isinstance(device, str) and device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(load_stage_models(stage1, stage2), torch.device(device))

    def sampling_settings(
        self, settings: Stage2TestConfig | None = None, overrides: SamplingOverrides = NO_OVERRIDES
    ) -> Stage2TestConfig:
        """The settings a call samples with: ``settings`` (None: `default_settings`) with ``overrides`` applied.

        Raises:
            ValueError: settings `Stage2TestConfig` refuses, or steps outside 1..T.
        """
        base = self.default_settings if settings is None else settings
        return overrides.apply(base, self.stage2.cfg.schedule)

    # ------------------------------------------------------------------------------------------------ call
    def __call__(
        self,
        image: np.ndarray,
        intrinsics: tuple[float, float, float, float],
        bbox_px: tuple[float, float, float, float],
        scene: np.ndarray | str | Path,
        world2pv: np.ndarray | None = None,
        keypoints_op25: np.ndarray | None = None,
        *,
        settings: Stage2TestConfig | None = None,
        num_samples: int | None = None,
        sampler: Literal["ddpm", "ddim"] | None = None,
        steps: int | None = None,
        fuse: bool | None = None,
        guidance: bool | None = None,
        generator: torch.Generator | None = None,
        frame_key: str | None = None,
    ) -> EgoHMRResult:
        """Predict S bodies for one image.

        Args:
            image: (H, W, 3) uint8 RGB.
            intrinsics: (fx, fy, cx, cy) px of the full image.
            bbox_px: (x1, y1, x2, y2) body box, px.
            scene: (P, 3) points or a scene file (.obj/.ply/.npy/.npz), metres. In the PV camera frame (OpenCV axes)
                when `world2pv` is None; else in the world (scene-mesh) frame, mapped by `world2pv`, whose y axis
                is then the vertical of the stage-2 cube.
            world2pv: optional (4, 4) world -> PV rigid transform.
            keypoints_op25: optional (25, 3) OpenPose BODY_25 (x px, y px, conf): visibility from confidences > 0.
            settings: stage-2 sampling settings; None: `default_settings` (demo preset: 5 samples, DDPM over all
                steps, diffuse_fuse, guidance). ``settings.seed`` seeds the frame's streams when `frame_key` is given.
            num_samples, sampler, steps, fuse, guidance: shorthands that override single fields of the settings
                (S >= 1; "ddpm" or "ddim"; 1..T denoising steps; diffuse_fuse; collision guidance); None keeps them.
            generator: CPU torch.Generator whose draw seeds the streams when `frame_key` is None; None = fresh
                randomness.
            frame_key: the frame's key (its image file stem): every random draw comes from the frame's streams of
                ``settings.seed`` and this key (module docstring); `generator` must then be None.

        Returns:
            `EgoHMRResult`.

        Raises:
            ValueError: wrong shapes, NaN, a box outside the image, implausible intrinsics, bad sampling settings, no
                scene point in front of the camera or near the predicted body, both `generator` and `frame_key`.
            FileNotFoundError: missing scene file.
        """
        overrides = SamplingOverrides(
            num_samples=num_samples, sampler=sampler, steps=steps, fuse=fuse, guidance=guidance
        )
        sampling = self.sampling_settings(settings, overrides)
        if frame_key is not None and generator is not None:
            raise ValueError("give a generator or a frame_key (with settings.seed), not both")
        seed, key = (sampling.seed, frame_key) if frame_key is not None else (I.seed_from_generator(generator), "")
        frame = FrameInputs(image, intrinsics, bbox_px, scene, key, world2pv, keypoints_op25)
        return self._predict([frame], sampling, seed)[0]

    def predict_frames(
        self, frames: Sequence[FrameInputs], settings: Stage2TestConfig | None = None
    ) -> list[EgoHMRResult]:
        """Predict S bodies for each of several images with one batched stage-2 call (the caller sizes the batch,
        e.g. with `images_per_batch`). Frame b gets exactly what ``self(..., settings=settings, frame_key=key_b)``
        gives it (its draws come from its own streams), to float rounding of the batched products.

        Args:
            frames: the images' inputs (`FrameInputs`), each with its key.
            settings: stage-2 sampling settings (None: `default_settings`); ``settings.seed`` seeds every stream.

        Returns:
            One `EgoHMRResult` per frame, in order; ``seconds["stage2"]`` is the frame's share of the batch.

        Raises:
            ValueError / FileNotFoundError: as `__call__`.
        """
        if not frames:
            return []
        sampling = self.sampling_settings(settings)
        return self._predict(frames, sampling, sampling.seed)

    def images_per_batch(self, frame: FrameInputs, settings: Stage2TestConfig | None = None) -> int:
        """Images per `predict_frames` call: ``settings.batch_size``, or with ``settings.max_memory_gb`` the most
        images whose stage-2 sampling fits the cap, calibrated on `frame` (`egohmr.stage2.batching`)."""
        sampling = self.sampling_settings(settings)
        if sampling.max_memory_gb is None:
            return sampling.batch_size
        from egohmr.stage2.batching import memory_capped_batch

        prepared = self._prepare(frame, sampling.seed)
        batch, transl = self._stage2_batch([prepared])
        scheduler = self._scheduler(sampling)
        return memory_capped_batch(self.stage2, batch, transl, sampling, scheduler, self._guidance_for(sampling))

    def _predict(self, frames: Sequence[FrameInputs], sampling: Stage2TestConfig, seed: int) -> list[EgoHMRResult]:
        prepared = [self._prepare(frame, seed) for frame in frames]
        tic = time.perf_counter()
        samples = self._run_stage2(prepared, sampling, seed)
        stage2_share = (time.perf_counter() - tic) / len(prepared)
        return [self._result(p, samples, b, stage2_share) for b, p in enumerate(prepared)]

    # ------------------------------------------------------------------------------------------------ steps
    def _tensor(self, value: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value), dtype=dtype, device=self.device)

    def _check_inputs(
        self,
        image: np.ndarray,
        intrinsics: Any,
        bbox_px: Any,
        scene: np.ndarray | str | Path,
        world2pv: np.ndarray | None,
        keypoints_op25: np.ndarray | None,
    ) -> _Inputs:
        """Check every input and map the scene to the PV frame."""
        img = I.check_image(image)
        height, width = img.shape[:2]
        intr = I.check_intrinsics(intrinsics, width, height)
        box = I.check_bbox(bbox_px, width, height)
        kp = I.check_keypoints(keypoints_op25) if keypoints_op25 is not None else None
        T = I.check_world2pv(world2pv) if world2pv is not None else None
        pts = load_scene_points(scene) if isinstance(scene, str | Path) else I.check_points(scene, "scene")
        if T is not None:
            pts = apply_transform(T, pts)
        return _Inputs(img, intr, box, kp, pts, T)

    def _prepare(self, frame: FrameInputs, seed: int) -> _Prepared:
        """Check a frame's inputs, run stage 1 and crop the stage-2 scene (draws from the streams ``seed``, key)."""
        seconds: dict[str, float] = {}
        inputs = self._check_inputs(
            frame.image, frame.intrinsics, frame.bbox_px, frame.scene, frame.world2pv, frame.keypoints_op25
        )
        tic = time.perf_counter()
        s1 = self._run_stage1(inputs, seed, frame.key)
        seconds["stage1"] = time.perf_counter() - tic
        tic = time.perf_counter()
        scene = self._scene_crop(inputs, s1, seed, frame.key)
        seconds["scene"] = time.perf_counter() - tic
        return _Prepared(inputs, s1, scene, frame.key, seconds)

    def _run_stage1(self, inputs: _Inputs, seed: int, key: str) -> _Stage1Output:
        """Crop and stage 1: the mode sample (z = 0) from the crop and the scene points in front of the camera (drawn
        from the frame's streams ``seed``, ``key``)."""
        fx, fy, cx, cy = inputs.intrinsics
        center, size = I.square_box(inputs.bbox_px)
        camera = {
            "fx": self._tensor([fx]),
            "fy": self._tensor([fy]),
            "cx": self._tensor([cx]),
            "cy": self._tensor([cy]),
            "bbox_center_px": self._tensor(center[None]),
            "bbox_size_px": self._tensor([size]),
        }
        cfg = self.stage1.cfg
        crop = I.crop_image(inputs.image, center, size, cfg.image_size_px)
        front = I.front_points(inputs.scene_pv, SCENE_POINTS_PER_FRAME, frame_rng(seed, key, SCENE_S1))
        front = front[subset_indices(len(front), cfg.num_scene_points, frame_rng(seed, key, STAGE1_SUBSET))]
        with torch.no_grad():
            batch = camera | {"img_crop": self._tensor(crop[None]), "scene_points_pv": self._tensor(front[None])}
            out = self.stage1(batch, num_samples=1)
            transl = out.transl_full_pv[:, 0]  # (1, 3)
            body = self.body(out.betas[:, 0], out.global_orient_rotmat[:, 0], out.body_pose_rotmat[:, 0], transl)
        transl_np = transl[0].double().cpu().numpy()
        if not np.all(np.isfinite(transl_np)):
            raise ValueError(f"stage 1 predicted a non-finite translation {transl_np.tolist()}")
        return _Stage1Output(camera, crop, center, size, transl, body.joints[0].float().cpu().numpy())

    def _scene_crop(self, inputs: _Inputs, s1: _Stage1Output, seed: int, key: str) -> _SceneOutput:
        """The stage-2 cube around the stage-1 translation (drawn from the frame's stream ``seed``, ``key``), and the
        joint visibility (keypoints, else the box)."""
        data = self.stage2.cfg.data
        transl = s1.transl_pv[0].double().cpu().numpy()
        rng = frame_rng(seed, key, SCENE_S2)
        cube = I.stage2_cube(inputs.scene_pv, transl, data.num_scene_points_file, rng, world2pv=inputs.world2pv)
        if inputs.keypoints_op25 is not None:
            from egohmr.data.visibility import openpose_visibility_smpl24

            kp = torch.from_numpy(inputs.keypoints_op25).float()
            return _SceneOutput(
                cube, openpose_visibility_smpl24(kp, loosen=data.pelvis_vis_loosen_test).numpy(), "keypoints"
            )
        vis = I.box_visibility(s1.joints_pv, inputs.intrinsics, inputs.bbox_px, inputs.width, inputs.height)
        return _SceneOutput(cube, vis, "bbox")

    def _guidance_for(self, settings: Stage2TestConfig):
        """`CollisionGuidance` of ``settings.guidance`` (built once per guidance config), or None when disabled."""
        from egohmr.stage2.pipeline import build_guidance

        if settings.guidance not in self._guidance:
            self._guidance[settings.guidance] = build_guidance(self.stage2, settings)
        return self._guidance[settings.guidance]

    def _scheduler(self, settings: Stage2TestConfig):
        from egohmr.diffusion.schedulers import build_scheduler

        return build_scheduler(self.stage2.cfg.schedule, settings.sampler, settings.spacing, settings.eta)

    def _stage2_batch(self, prepared: Sequence[_Prepared]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The stage-2 batch of B prepared frames (camera, crop, scene cube, visibility) and their stage-1
        translations (B, 3), metres, PV frame."""
        crops = []
        for p in prepared:
            if self.stage1.cfg.image_size_px == CROP_SIZE_PX:
                crops.append(p.stage1.crop)
            else:
                crops.append(I.crop_image(p.inputs.image, p.stage1.bbox_center_px, p.stage1.bbox_size_px, CROP_SIZE_PX))
        camera = {name: torch.cat([p.stage1.camera[name] for p in prepared]) for name in prepared[0].stage1.camera}
        batch = camera | {
            "img_crop": self._tensor(np.stack(crops)),
            "scene_points_pv": self._tensor(np.stack([p.scene.cube_pv for p in prepared])),
            "vis_smpl24": torch.as_tensor(
                np.stack([p.scene.visibility for p in prepared]), dtype=torch.bool, device=self.device
            ),
        }
        return batch, torch.cat([p.stage1.transl_pv for p in prepared])

    def _run_stage2(self, prepared: Sequence[_Prepared], settings: Stage2TestConfig, seed: int):
        """Stage-2 samples (`egohmr.stage2.pipeline.Stage2Samples`, B frames) at the stage-1 translations, each
        frame's noise from its stream (``seed``, its key)."""
        from egohmr.stage2.pipeline import draw_frame_noise, predict_samples

        scheduler = self._scheduler(settings)
        batch, transl = self._stage2_batch(prepared)
        keys = [p.key for p in prepared]
        return predict_samples(
            self.stage2,
            batch,
            transl,
            settings.num_samples,
            scheduler,
            fuse=settings.diffuse_fuse,
            guidance=self._guidance_for(settings),
            noise=draw_frame_noise(seed, keys, settings.num_samples, scheduler, self.device),
            return_mode=settings.return_mode,
            mode=settings.mode,
            visible_noise_scale=settings.visible_noise_scale,
        )

    def _result(self, p: _Prepared, samples: Any, b: int, stage2_seconds: float) -> EgoHMRResult:
        """Frame `b` of a batched stage-2 output, posed at its stage-1 translation."""
        tic = time.perf_counter()
        vertices, joints = self._pose_samples(samples, b, p.stage1.transl_pv)
        seconds = p.seconds | {"stage2": stage2_seconds, "bodies": time.perf_counter() - tic}
        return EgoHMRResult(
            betas=_f32(samples.betas[b]),
            global_orient_rotmat_pv=_f32(samples.global_orient_rotmat[b]),
            body_pose_rotmat=_f32(samples.body_pose_rotmat[b]),
            transl_pv=_f32(p.stage1.transl_pv[0]),
            vertices_pv=vertices,
            joints_pv=joints,
            faces=self.faces.astype(np.int64),
            scene_points_pv=p.scene.cube_pv.astype(np.float32),
            visibility=np.asarray(p.scene.visibility, dtype=bool),
            visibility_source=p.scene.visibility_source,
            bbox_center_px=p.stage1.bbox_center_px,
            bbox_size_px=float(p.stage1.bbox_size_px),
            stage1_joints_pv=p.stage1.joints_pv.astype(np.float32),
            seconds=seconds,
        )

    def _pose_samples(self, samples: Any, b: int, transl_pv: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Vertices (S, V, 3) and joints (S, 24, 3), float32, metres, PV frame, of frame `b`'s samples at
        ``transl_pv`` (1, 3)."""
        num = samples.betas.shape[1]
        with torch.no_grad():
            bodies = self.body(
                samples.betas[b], samples.global_orient_rotmat[b], samples.body_pose_rotmat[b], transl_pv.expand(num, 3)
            )
        return _f32(bodies.vertices), _f32(bodies.joints)
