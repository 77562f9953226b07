"""`EgoHMRPipeline`: one egocentric image + scene -> S body samples (stage 1 -> stage-2 scene crop -> stage 2).

::

    pipe = EgoHMRPipeline.from_pretrained()                      # shipped cpu checkpoints
    result = pipe(image, (fx, fy, cx, cy), (x1, y1, x2, y2), scene_points_pv, num_samples=5)
    result.vertices_pv  # (S, V, 3) metres, PV camera frame (OpenCV axes)

Steps for one image (docs/demo.md):

1. crop: square box centred on the body box, side ``max(w, h) * 1.2`` (the official ``--add_bbox_scale``), warped
   to the models' crop size (224) and ImageNet-normalised;
2. stage 1: scene points in front of the camera (``num_scene_points`` drawn at random) + crop -> the mode sample
   (z = 0); its translation ``transl_pv`` places every stage-2 sample;
3. stage-2 scene crop: the official test-time 2 x 2 x 2 m cube around ``transl_pv`` (random yaw about the vertical:
   the scene frame's y axis when ``world2pv`` is given, else the PV camera's -y), ``num_scene_points_file`` points;
4. visibility: from OpenPose keypoints (official map, loosened as at test time), else the stage-1 mode joints that
   project inside the body box and the image;
5. stage 2: fast batched sampling (`egohmr.stage2.pipeline.predict_samples`) with diffuse_fuse and collision
   guidance; bodies posed with the stage-2 neutral body model.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from egohmr.pipeline import inputs as I

__all__ = ["EgoHMRPipeline", "EgoHMRResult", "load_scene_points"]

logger = logging.getLogger(__name__)


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

        geom = trimesh.load(path, process=False)
        pts = np.asarray(geom.vertices if hasattr(geom, "vertices") else geom.dump(concatenate=True).vertices)
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


class EgoHMRPipeline:
    """Both stages and the glue between them (module docstring). Build with `from_pretrained`.

    Args:
        models: `egohmr.pipeline.checkpoints.StageModels`.
        device: torch device of the models.
    """

    def __init__(self, models: Any, device: torch.device) -> None:
        self.models = models
        self.device = device
        self.stage1 = models.stage1.to(device).eval()
        self.stage2 = models.stage2.to(device).eval()
        self.body = self.stage2.bodies()["neutral"]
        self.faces = np.asarray(self.body.faces.cpu().numpy() if torch.is_tensor(self.body.faces) else self.body.faces)
        self._guidance: dict[bool, Any] = {}

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

    # ------------------------------------------------------------------------------------------------ pieces
    def _tensor(self, value: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value), dtype=dtype, device=self.device)

    def _pose(self, betas: torch.Tensor, go: torch.Tensor, bp: torch.Tensor, transl: torch.Tensor):
        return self.body(betas, go, bp, transl)

    def _guidance_for(self, enabled: bool):
        from egohmr.stage2.pipeline import build_guidance

        if not enabled:
            return None
        if True not in self._guidance:
            cfg = self.stage2.cfg
            self.stage2.cfg = dataclasses.replace(
                cfg, test=dataclasses.replace(cfg.test, guidance=dataclasses.replace(cfg.test.guidance, enabled=True))
            )
            self._guidance[True] = build_guidance(self.stage2, self.stage2.cfg.test)
        return self._guidance[True]

    # ------------------------------------------------------------------------------------------------ call
    def __call__(
        self,
        image: np.ndarray,
        intrinsics: tuple[float, float, float, float],
        bbox_px: tuple[float, float, float, float],
        scene: np.ndarray | str | Path,
        world2pv: np.ndarray | None = None,
        keypoints_op25: np.ndarray | None = None,
        num_samples: int = 5,
        sampler: Literal["ddpm", "ddim"] = "ddpm",
        steps: int = 50,
        fuse: bool = True,
        guidance: bool = True,
        generator: torch.Generator | None = None,
    ) -> EgoHMRResult:
        """Predict `num_samples` bodies for one image.

        Args:
            image: (H, W, 3) uint8 RGB.
            intrinsics: (fx, fy, cx, cy) px of the full image.
            bbox_px: (x1, y1, x2, y2) body box, px.
            scene: (P, 3) points or a scene file (.obj/.ply/.npy/.npz), metres. In the PV camera frame (OpenCV axes)
                when `world2pv` is None; else in the world (scene-mesh) frame, mapped by `world2pv`, whose y axis
                is then the vertical of the stage-2 cube.
            world2pv: optional (4, 4) world -> PV rigid transform.
            keypoints_op25: optional (25, 3) OpenPose BODY_25 (x px, y px, conf): visibility from confidences > 0.
            num_samples: S >= 1.
            sampler: "ddpm" (official) or "ddim"; steps: denoising steps (1..50).
            fuse: diffuse_fuse; guidance: collision guidance.
            generator: CPU torch.Generator of every random draw (points, cube yaw, noise); None = fresh randomness.

        Returns:
            `EgoHMRResult`.

        Raises:
            ValueError: wrong shapes, NaN, a box outside the image, implausible intrinsics, no scene point in front
                of the camera or near the predicted body. FileNotFoundError: missing scene file.
        """
        import time

        from egohmr.diffusion.spacing import spacing_for

        img = I.check_image(image)
        height, width = img.shape[:2]
        intr = I.check_intrinsics(intrinsics, width, height)
        box = I.check_bbox(bbox_px, width, height)
        kp = I.check_keypoints(keypoints_op25) if keypoints_op25 is not None else None
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if sampler not in ("ddpm", "ddim"):
            raise ValueError(f"sampler must be 'ddpm' or 'ddim', got {sampler!r}")
        spacing = spacing_for(sampler, int(steps), self.stage2.cfg.schedule.num_train_timesteps)
        T = I.check_world2pv(world2pv) if world2pv is not None else None
        pts = load_scene_points(scene) if isinstance(scene, str | Path) else I.check_points(scene, "scene")
        if T is not None:
            pts = pts @ T[:3, :3].T + T[:3, 3]
        rng = np.random.default_rng(I.seed_from_generator(generator))
        noise_gen = torch.Generator(device=self.device).manual_seed(int(rng.integers(0, 2**62)))

        seconds: dict[str, float] = {}
        tic = time.perf_counter()
        fx, fy, cx, cy = intr
        center, size = I.square_box(box)
        cam = {
            "fx": self._tensor([fx]),
            "fy": self._tensor([fy]),
            "cx": self._tensor([cx]),
            "cy": self._tensor([cy]),
            "bbox_center_px": self._tensor(center[None]),
            "bbox_size_px": self._tensor([size]),
        }
        s1 = self.stage1.cfg
        crop1 = I.crop_image(img, center, size, s1.image_size_px)
        front = I.front_points(pts, s1.num_scene_points, rng)
        with torch.no_grad():
            batch1 = cam | {"img_crop": self._tensor(crop1[None]), "scene_points_pv": self._tensor(front[None])}
            out1 = self.stage1(batch1, num_samples=1)
            transl = out1.transl_full_pv[:, 0]  # (1, 3)
            body1 = self._pose(out1.betas[:, 0], out1.global_orient_rotmat[:, 0], out1.body_pose_rotmat[:, 0], transl)
        transl_np = transl[0].double().cpu().numpy()
        if not np.all(np.isfinite(transl_np)):
            raise ValueError(f"stage 1 predicted a non-finite translation {transl_np.tolist()}")
        seconds["stage1"] = time.perf_counter() - tic

        tic = time.perf_counter()
        cube = I.stage2_cube(pts, transl_np, self.stage2.cfg.data.num_scene_points_file, rng, world2pv=T)
        joints1 = body1.joints[0].float().cpu().numpy()
        if kp is not None:
            from egohmr.data.visibility import openpose_visibility_smpl24

            vis = openpose_visibility_smpl24(
                torch.from_numpy(kp).float(), loosen=self.stage2.cfg.data.pelvis_vis_loosen_test
            ).numpy()
            vis_source = "keypoints"
        else:
            vis = I.box_visibility(joints1, intr, box, width, height)
            vis_source = "bbox"
        seconds["scene"] = time.perf_counter() - tic

        tic = time.perf_counter()
        from egohmr.diffusion.schedulers import build_scheduler
        from egohmr.stage2.pipeline import predict_samples

        scheduler = build_scheduler(self.stage2.cfg.schedule, sampler, spacing)
        crop2 = crop1 if s1.image_size_px == 224 else I.crop_image(img, center, size, 224)
        batch2 = cam | {
            "img_crop": self._tensor(crop2[None]),
            "scene_points_pv": self._tensor(cube[None]),
            "vis_smpl24": torch.as_tensor(vis[None], dtype=torch.bool, device=self.device),
        }
        out2 = predict_samples(
            self.stage2,
            batch2,
            transl,
            int(num_samples),
            scheduler,
            fuse=fuse,
            guidance=self._guidance_for(guidance),
            generator=noise_gen,
            visible_noise_scale=self.stage2.cfg.test.visible_noise_scale,
        )
        seconds["stage2"] = time.perf_counter() - tic

        tic = time.perf_counter()
        S = int(num_samples)
        with torch.no_grad():
            bodies = self._pose(
                out2.betas[0],
                out2.global_orient_rotmat[0],
                out2.body_pose_rotmat[0],
                transl.expand(S, 3),
            )
        seconds["bodies"] = time.perf_counter() - tic

        def f32(t: torch.Tensor) -> np.ndarray:
            return t.detach().float().cpu().numpy()

        return EgoHMRResult(
            betas=f32(out2.betas[0]),
            global_orient_rotmat_pv=f32(out2.global_orient_rotmat[0]),
            body_pose_rotmat=f32(out2.body_pose_rotmat[0]),
            transl_pv=f32(transl[0]),
            vertices_pv=f32(bodies.vertices),
            joints_pv=f32(bodies.joints),
            faces=self.faces.astype(np.int64),
            scene_points_pv=cube.astype(np.float32),
            visibility=np.asarray(vis, dtype=bool),
            visibility_source=vis_source,
            bbox_center_px=center,
            bbox_size_px=float(size),
            stage1_joints_pv=joints1.astype(np.float32),
            seconds=seconds,
        )
