"""Stage-2 pose denoiser: per-joint conditioning tokens, the Modulated GCN, diffuse_fuse and the beta head.

Official model: `reference-egohmr.md` sections 3 and 6 (``models/egohmr/egohmr.py``). Sub-module and parameter names
follow the official state dict (``input_process.poseEmbedding``, ``embed_timestep.time_embed.{0,2}``,
``transl_enc.layers.{0,2}``, ``diffusion_model.*``, ``beta_layer.*``), so an official checkpoint loads after
`denoiser_state_dict_from_official` (which drops the backbone / scene encoder / SMPL keys and the positional table).

Every ``denoise*`` method returns x̂0: normalised 6D pose, ``(N, 24, 6)`` in diffusion ("row") 6D order, joint 0 =
global orientation in the PV camera frame; ``x0 * std + mean`` un-normalises it. What the GCN itself outputs is the
``prediction`` of the schedule: ``x0`` (official: x̂0 directly) or ``v``, turned into x̂0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v.
With ``v`` an untrained or condition-dominated network still follows x_t at low noise; with ``x0`` a network trained
on few frames can regress x0 from the condition alone and ignore x_t (no sample diversity; docs/stage2.md).

Per-joint token (width 3718), official order:

====================  =========  ======================================================
slice                 width      content
====================  =========  ======================================================
0:2048                2048       image feature × visibility of the joint
2048:2560             512        scene feature (PointNet of the human-centric cube)
2560:2688             128        ``TranslEnc(transl_pv)``
2688:2694             6          camera info (see `camera_condition`)
2694:3206             512        ``InputProcess(x_t)`` of the joint
3206:3718             512        ``TimestepEmbedder(t)`` (same for all joints)
====================  =========  ======================================================

Fast path ("constant part of the first graph layer"): the first graph conv starts with ``X W_k`` (linear),
so the token's contribution splits into

* per image, once (`PoseDenoiser.encode_condition`): ``img_feat W_k[0:2048]`` and
  ``[scene | transl_feat | cam] W_k[2048:2694]`` -- the visibility mask then only scales the first term per joint;
* per weight set, once: ``InputProcess`` folded into ``W_k[2694:3206]`` (a 6 -> 2·1024 affine map per joint) and the
  time slice ``W_k[3206:3718]``;
* per denoising call: the 6-wide pose map per joint and the time MLP per row, then the rest of the GCN.

`PoseDenoiser.assemble_tokens` / ``*_reference`` methods compute the straightforward way for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

from egohmr.constants import (
    FX_NORM_PX,
    NUM_BETAS,
    NUM_SMPL_JOINTS,
)
from egohmr.models.gcn import GCNTrace, ModulatedGCN

__all__ = [
    "DenoiserCondition",
    "FCHeadBeta",
    "FirstLayerFold",
    "InputProcess",
    "PoseDenoiser",
    "PositionalEncoding",
    "TimestepEmbedder",
    "TranslEnc",
    "camera_condition",
    "denoiser_state_dict_from_official",
    "sinusoidal_table",
]

ROT6D_DIM = 6
CAM_INFO_DIM = 6


def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """Sinusoidal position table of the official ``PositionalEncoding``, computed in float32.

    ``pe[p, 2k] = sin(p·d_k)``, ``pe[p, 2k+1] = cos(p·d_k)``, ``d_k = exp(2k · (−ln 10000 / dim))``.

    Args:
        max_len: number of positions (official 5000; only 0..T−1 are used as diffusion timesteps).
        dim: even feature width (official 512).

    Returns:
        (max_len, dim) float32.
    """
    if dim % 2:
        raise ValueError(f"sinusoidal_table: dim must be even, got {dim}")
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (P, 1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (dim/2,)
    table = torch.zeros(max_len, dim, dtype=torch.float32)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table


def camera_condition(
    fx_px: torch.Tensor,
    cx_px: torch.Tensor,
    cy_px: torch.Tensor,
    bbox_center_px: torch.Tensor,
    bbox_size_px: torch.Tensor,
) -> torch.Tensor:
    """CLIFF-style camera info of the conditioning vector (`reference-egohmr.md` sections 2 and 3).

    Args:
        fx_px: (B,) focal length, pixels (full image). The official data store ``fx / 1500``; multiply back first.
        cx_px: (B,) principal point x, pixels (full image).
        cy_px: (B,) principal point y, pixels.
        bbox_center_px: (B, 2) square crop box centre, pixels (full image).
        bbox_size_px: (B,) crop box side, pixels.

    Returns:
        (B, 6) ``[cx/fx, cy/fx, bbox_cx/fx, bbox_cy/fx, bbox_size/fx, fx/1500]``, dtype of ``fx_px``.
    """
    if bbox_center_px.shape[-1] != 2:
        raise ValueError(f"camera_condition: bbox_center_px must be (B, 2), got {tuple(bbox_center_px.shape)}")
    return torch.stack(
        (
            cx_px / fx_px,
            cy_px / fx_px,
            bbox_center_px[..., 0] / fx_px,
            bbox_center_px[..., 1] / fx_px,
            bbox_size_px / fx_px,
            fx_px / FX_NORM_PX,
        ),
        dim=-1,
    )


class PositionalEncoding(nn.Module):
    """Official ``PositionalEncoding`` table (its dropout is never applied and is omitted).

    The table is a non-persistent buffer: it is rebuilt from ``(max_len, dim)``, not stored in checkpoints. Official
    state dicts hold it twice (``sequence_pos_encoder.pe`` and ``embed_timestep.sequence_pos_encoder.pe``, one shared
    module, [5000, 1, 512]); `denoiser_state_dict_from_official` checks and drops both keys.
    """

    def __init__(self, dim: int = 512, max_len: int = 5000) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, dim), persistent=False)  # (max_len, dim)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """(N,) integer positions -> (N, dim) rows of the table."""
        return self.pe[positions]


class InputProcess(nn.Module):
    """Per-joint embedding of the noisy pose: ``poseEmbedding`` Linear(6 -> latent)."""

    def __init__(self, latent_dim: int = 512, num_joints: int = NUM_SMPL_JOINTS) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.poseEmbedding = nn.Linear(ROT6D_DIM, latent_dim)

    def forward(self, x_t: torch.Tensor) -> torch.Tensor:
        """(N, J*6) normalised noisy pose -> (N, J, latent)."""
        return self.poseEmbedding(x_t.reshape(x_t.shape[0], self.num_joints, ROT6D_DIM))  # (N, J, latent)


class TimestepEmbedder(nn.Module):
    """Sinusoidal table row -> Linear -> SiLU -> Linear (``time_embed.{0,2}``)."""

    def __init__(self, latent_dim: int, sequence_pos_encoder: PositionalEncoding) -> None:
        super().__init__()
        self.sequence_pos_encoder = sequence_pos_encoder  # shared with the parent, as in the official model
        self.time_embed = nn.Sequential(nn.Linear(latent_dim, latent_dim), nn.SiLU(), nn.Linear(latent_dim, latent_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """(N,) int64 timesteps (original, not respaced) -> (N, latent)."""
        return self.time_embed(self.sequence_pos_encoder(t))


class TranslEnc(nn.Module):
    """Body translation embedding: Linear(3 -> 64) -> ReLU -> Linear(64 -> 128)."""

    def __init__(self, out_dim: int = 128, hidden_dim: int = 64) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(3, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))

    def forward(self, transl_pv: torch.Tensor) -> torch.Tensor:
        """(B, 3) metres, PV frame -> (B, out)."""
        return self.layers(transl_pv)


class FCHeadBeta(nn.Module):
    """Deterministic shape head: Linear(in -> 1024) -> ReLU -> Linear(1024 -> 10), plus the mean betas buffer."""

    def __init__(self, in_dim: int = 2694, hidden_dim: int = 1024, init_betas: torch.Tensor | None = None) -> None:
        """Create the head.

        Args:
            in_dim: width of ``[img | scene | transl_feat | cam]`` (official 2694).
            hidden_dim: hidden width.
            init_betas: (10,) or (1, 10) mean shape added to the output. The official value comes from
                ``smpl_mean_params.npz`` and is stored in checkpoints; default zeros.
        """
        super().__init__()
        init = torch.zeros(1, NUM_BETAS) if init_betas is None else torch.as_tensor(init_betas).reshape(1, NUM_BETAS)
        self.register_buffer("init_betas", init.to(torch.float32))
        self.layers = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, NUM_BETAS))
        nn.init.xavier_uniform_(self.layers[2].weight, gain=0.02)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, in) -> (B, 10) betas."""
        return self.layers(feat) + self.init_betas


@dataclass(frozen=True)
class FirstLayerFold:
    """Weight-only pieces of the first graph layer, computed once per `encode_condition` call.

    ``H = 2 · hidden`` (self and neighbour weights side by side).

    Attributes:
        pose_weight: (6, H) ``poseEmbedding.weight^T · W[2694:3206]``.
        pose_bias: (H,) ``poseEmbedding.bias · W[2694:3206]``.
        time_weight: (latent, H) ``W[3206:3718]``.
    """

    pose_weight: torch.Tensor
    pose_bias: torch.Tensor
    time_weight: torch.Tensor


@dataclass(frozen=True)
class DenoiserCondition:
    """Everything the denoiser needs from one image, computed once (`PoseDenoiser.encode_condition`).

    Rows are images (or samples after `index` / `repeat_interleave`). ``H = 2 · hidden``.

    Attributes:
        img_feat: (B, 2048) image feature, not masked.
        scene_feat: (B, 512) scene feature (human-centric cube).
        transl_feat: (B, 128) ``TranslEnc(transl_pv)``.
        cam_info: (B, 6) see `camera_condition`.
        img_xw: (B, H) ``img_feat · W[0:2048]`` (first graph layer, before the per-joint visibility).
        ctx_xw: (B, H) ``[scene | transl_feat | cam] · W[2048:2694]``.
        fold: weight-only pieces, shared by all rows.
    """

    img_feat: torch.Tensor
    scene_feat: torch.Tensor
    transl_feat: torch.Tensor
    cam_info: torch.Tensor
    img_xw: torch.Tensor
    ctx_xw: torch.Tensor
    fold: FirstLayerFold

    _ROW_FIELDS = ("img_feat", "scene_feat", "transl_feat", "cam_info", "img_xw", "ctx_xw")

    @property
    def batch_size(self) -> int:
        """Number of rows."""
        return self.img_feat.shape[0]

    def index(self, rows: torch.Tensor) -> DenoiserCondition:
        """Select / repeat rows: ``rows`` (N,) int64 indices into the current rows. No recomputation."""
        return replace(self, **{name: getattr(self, name)[rows] for name in self._ROW_FIELDS})

    def repeat_interleave(self, repeats: int) -> DenoiserCondition:
        """Each row ``repeats`` times in a row (image-major: row ``b * S + s`` is sample ``s`` of image ``b``)."""
        return replace(self, **{n: getattr(self, n).repeat_interleave(repeats, dim=0) for n in self._ROW_FIELDS})


def _check_rows(name: str, x: torch.Tensor, shape: tuple[int, ...]) -> None:
    if tuple(x.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(x.shape)}")


class PoseDenoiser(nn.Module):
    """Stage-2 denoiser and beta head (official ``EgoHMR`` without backbone, scene encoder and SMPL)."""

    def __init__(
        self,
        img_dim: int = 2048,
        scene_dim: int = 512,
        transl_dim: int = 128,
        latent_dim: int = 512,
        gcn_hidden: int = 1024,
        gcn_blocks: int = 4,
        num_joints: int = NUM_SMPL_JOINTS,
        max_len: int = 5000,
        init_betas: torch.Tensor | None = None,
        prediction: Literal["x0", "v"] = "x0",
        alphas_cumprod: torch.Tensor | None = None,
    ) -> None:
        """Build the denoiser (official sizes by default).

        Args:
            img_dim: image feature width (ResNet-50: 2048).
            scene_dim: scene feature width (PointNet: 512).
            transl_dim: translation embedding width.
            latent_dim: pose and timestep embedding width.
            gcn_hidden: GCN hidden width.
            gcn_blocks: GCN residual blocks.
            num_joints: graph nodes (24 SMPL joints).
            max_len: rows of the sinusoidal table (official 5000; must exceed the largest timestep).
            init_betas: mean betas of the beta head, see `FCHeadBeta`.
            prediction: what the GCN outputs, ``x0`` (official) or ``v`` (module docstring).
            alphas_cumprod: (T,) ᾱ of the training schedule at the original timesteps; needed for ``v``.
        """
        super().__init__()
        self.img_dim, self.scene_dim, self.transl_dim = img_dim, scene_dim, transl_dim
        self.latent_dim, self.num_joints, self.gcn_hidden = latent_dim, num_joints, gcn_hidden
        self.cond_dim = img_dim + scene_dim + transl_dim + CAM_INFO_DIM  # 2694: x_t- and t-independent slice
        self.token_dim = self.cond_dim + 2 * latent_dim  # 3718
        self.input_process = InputProcess(latent_dim, num_joints)
        self.sequence_pos_encoder = PositionalEncoding(latent_dim, max_len)
        self.embed_timestep = TimestepEmbedder(latent_dim, self.sequence_pos_encoder)
        self.transl_enc = TranslEnc(transl_dim)
        self.diffusion_model = ModulatedGCN(self.token_dim, gcn_hidden, ROT6D_DIM, gcn_blocks)
        self.beta_layer = FCHeadBeta(self.cond_dim, 1024, init_betas)
        self.prediction = prediction
        if prediction == "v":
            if alphas_cumprod is None:
                raise ValueError("PoseDenoiser: prediction='v' needs the schedule's alphas_cumprod")
            alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float64).reshape(-1)
            # non-persistent: rebuilt from the schedule config, so checkpoints hold only learnt weights
            self.register_buffer("v_x_coef", alphas_cumprod.sqrt().float(), persistent=False)  # (T,) √ᾱ_t
            self.register_buffer("v_out_coef", (1 - alphas_cumprod).sqrt().float(), persistent=False)  # √(1−ᾱ_t)
        elif prediction != "x0":
            raise ValueError(f"PoseDenoiser: prediction must be 'x0' or 'v', got {prediction!r}")

    def to_x0(self, x_t: torch.Tensor, t: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """GCN output (N, 24, 6) at x_t (N, 144) and original timesteps t (N,) -> x̂0 (N, 24, 6)."""
        if self.prediction == "x0":
            return output
        x_coef = self.v_x_coef[t].to(output.dtype).reshape(-1, 1, 1)
        out_coef = self.v_out_coef[t].to(output.dtype).reshape(-1, 1, 1)
        return x_coef * x_t.reshape(output.shape) - out_coef * output

    # ------------------------------------------------------------------ condition (once per image)
    def encode_condition(
        self, img_feat: torch.Tensor, scene_feat: torch.Tensor, transl_pv: torch.Tensor, cam_info: torch.Tensor
    ) -> DenoiserCondition:
        """Compute everything that does not depend on x_t or t, once per image.

        Args:
            img_feat: (B, 2048) image feature (not masked).
            scene_feat: (B, 512) feature of the human-centric scene cube.
            transl_pv: (B, 3) body translation, metres, PV frame (stage-1 output at test time).
            cam_info: (B, 6) `camera_condition`.

        Returns:
            `DenoiserCondition` with B rows.
        """
        batch = img_feat.shape[0]
        _check_rows("img_feat", img_feat, (batch, self.img_dim))
        _check_rows("scene_feat", scene_feat, (batch, self.scene_dim))
        _check_rows("transl_pv", transl_pv, (batch, 3))
        _check_rows("cam_info", cam_info, (batch, CAM_INFO_DIM))
        transl_feat = self.transl_enc(transl_pv)  # (B, 128)
        weight = self.diffusion_model.input_layer.stacked_weight()  # (3718, H)
        w_img, w_ctx, w_pose, w_time = torch.split(
            weight, [self.img_dim, self.cond_dim - self.img_dim, self.latent_dim, self.latent_dim]
        )
        embed = self.input_process.poseEmbedding
        fold = FirstLayerFold(
            pose_weight=embed.weight.transpose(0, 1) @ w_pose,  # (6, H)
            pose_bias=embed.bias @ w_pose,  # (H,)
            time_weight=w_time,  # (latent, H)
        )
        ctx = torch.cat((scene_feat, transl_feat, cam_info), dim=-1)  # (B, 646)
        return DenoiserCondition(
            img_feat=img_feat,
            scene_feat=scene_feat,
            transl_feat=transl_feat,
            cam_info=cam_info,
            img_xw=img_feat @ w_img,  # (B, H)
            ctx_xw=ctx @ w_ctx,  # (B, H)
            fold=fold,
        )

    def predict_betas(self, condition: DenoiserCondition) -> torch.Tensor:
        """Shape from ``[img (unmasked) | scene | transl_feat | cam]``: (B, 10), deterministic per image."""
        feat = torch.cat((condition.img_feat, condition.scene_feat, condition.transl_feat, condition.cam_info), -1)
        return self.beta_layer(feat)

    # ------------------------------------------------------------------ fast path (per denoising call)
    def _check_call(
        self, x_t: torch.Tensor, t: torch.Tensor, condition: DenoiserCondition, vis_mask: torch.Tensor
    ) -> None:
        rows = x_t.shape[0]
        _check_rows("x_t", x_t, (rows, self.num_joints * ROT6D_DIM))
        _check_rows("t", t, (rows,))
        _check_rows("vis_mask", vis_mask, (rows, self.num_joints))
        if condition.batch_size != rows:
            raise ValueError(
                f"condition has {condition.batch_size} rows but x_t has {rows}: index the condition per row first "
                "(DenoiserCondition.index / repeat_interleave)"
            )

    def _image_weight(
        self, vis_mask: torch.Tensor, image_mask: torch.Tensor | None, like: torch.Tensor
    ) -> torch.Tensor:
        """(N, J, 1) factor of the image feature: visibility, and 0 for rows whose image is masked."""
        keep = vis_mask if image_mask is None else vis_mask & image_mask.reshape(-1, 1)
        return keep.to(like.dtype).unsqueeze(-1)

    def _shared_projection(self, x_t: torch.Tensor, t: torch.Tensor, condition: DenoiserCondition) -> torch.Tensor:
        """First-layer projection of every image-independent part: (N, J, H)."""
        fold = condition.fold
        pose = x_t.reshape(x_t.shape[0], self.num_joints, ROT6D_DIM)  # (N, J, 6)
        pose_xw = pose @ fold.pose_weight + fold.pose_bias  # (N, J, H)
        time_xw = self.embed_timestep(t) @ fold.time_weight  # (N, H)
        return pose_xw + (time_xw + condition.ctx_xw).unsqueeze(1)

    def _to_gcn(self, xw: torch.Tensor) -> torch.Tensor:
        return xw.unflatten(-1, (2, self.gcn_hidden))  # (N, J, 2, hidden)

    def denoise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        condition: DenoiserCondition,
        vis_mask: torch.Tensor,
        image_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict x0 with the vis-masked image condition (fast path).

        Args:
            x_t: (N, 144) normalised noisy pose, row 6D order.
            t: (N,) int64 original (not respaced) timesteps.
            condition: N rows (see `DenoiserCondition.index`).
            vis_mask: (N, 24) bool joint visibility; the image feature is zeroed for invisible joints.
            image_mask: optional (N,) bool; False zeroes the image feature of the whole row (training condition
                masking, or the scene-only model).

        Returns:
            (N, 24, 6) predicted x0, normalised, row 6D order.
        """
        return self.to_x0(x_t, t, self.denoise_trace(x_t, t, condition, vis_mask, image_mask).output)

    def denoise_trace(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        condition: DenoiserCondition,
        vis_mask: torch.Tensor,
        image_mask: torch.Tensor | None = None,
    ) -> GCNTrace:
        """The GCN's raw output (x0 or v, see ``prediction``) with its hidden states (for tests and inspection)."""
        self._check_call(x_t, t, condition, vis_mask)
        xw = self._shared_projection(x_t, t, condition)  # (N, J, H)
        xw = xw + self._image_weight(vis_mask, image_mask, xw) * condition.img_xw.unsqueeze(1)
        return self.diffusion_model.trace_projected(self._to_gcn(xw))

    def denoise_fused(
        self, x_t: torch.Tensor, t: torch.Tensor, condition: DenoiserCondition, vis_mask: torch.Tensor
    ) -> torch.Tensor:
        """Official diffuse_fuse: visible joints from the image+scene branch, the others from the scene-only branch.

        Both branches go through the GCN as one batch of 2N rows; they share every first-layer term except the image
        one. (BatchNorm must be in eval mode: in train mode the two branches would share batch statistics.)

        Args:
            x_t, t, condition, vis_mask: as in `denoise`.

        Returns:
            (N, 24, 6) fused x0 prediction, normalised, row 6D order.
        """
        self._check_call(x_t, t, condition, vis_mask)
        shared = self._shared_projection(x_t, t, condition)  # (N, J, H)
        cond = shared + self._image_weight(vis_mask, None, shared) * condition.img_xw.unsqueeze(1)
        out = self.diffusion_model.forward_projected(self._to_gcn(torch.cat((cond, shared), dim=0)))  # (2N, J, 6)
        out_cond, out_scene = out.chunk(2, dim=0)
        return self.to_x0(x_t, t, torch.where(vis_mask.unsqueeze(-1), out_cond, out_scene))

    # ------------------------------------------------------------------ reference path (official computation)
    def assemble_tokens(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        condition: DenoiserCondition,
        vis_mask: torch.Tensor,
        image_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Full per-joint tokens, official layout (module docstring): (N, 24, 3718)."""
        self._check_call(x_t, t, condition, vis_mask)
        rows, joints = x_t.shape[0], self.num_joints
        img = condition.img_feat.unsqueeze(1) * self._image_weight(vis_mask, image_mask, condition.img_feat)
        per_image = torch.cat((condition.scene_feat, condition.transl_feat, condition.cam_info), dim=-1)
        t_emb = self.embed_timestep(t)  # (N, latent)
        return torch.cat(
            (
                img,  # (N, J, 2048)
                per_image.unsqueeze(1).expand(rows, joints, -1),  # (N, J, 646)
                self.input_process(x_t),  # (N, J, latent)
                t_emb.unsqueeze(1).expand(rows, joints, -1),  # (N, J, latent)
            ),
            dim=-1,
        )

    def denoise_reference(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        condition: DenoiserCondition,
        vis_mask: torch.Tensor,
        image_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`denoise` computed the straightforward way (full tokens through the GCN): x̂0 (N, 24, 6)."""
        return self.to_x0(x_t, t, self.diffusion_model(self.assemble_tokens(x_t, t, condition, vis_mask, image_mask)))

    def denoise_fused_reference(
        self, x_t: torch.Tensor, t: torch.Tensor, condition: DenoiserCondition, vis_mask: torch.Tensor
    ) -> torch.Tensor:
        """`denoise_fused` computed as the official code does (two full GCN calls): (N, 24, 6)."""
        out_cond = self.denoise_reference(x_t, t, condition, vis_mask)
        no_image = torch.zeros(x_t.shape[0], dtype=torch.bool, device=x_t.device)
        out_scene = self.denoise_reference(x_t, t, condition, vis_mask, image_mask=no_image)
        return torch.where(vis_mask.unsqueeze(-1), out_cond, out_scene)


_OFFICIAL_PE_KEYS = ("sequence_pos_encoder.pe", "embed_timestep.sequence_pos_encoder.pe")
_OFFICIAL_OTHER_PREFIXES = ("backbone.", "scene_enc.", "smpl.", "smpl_male.", "smpl_female.")


def denoiser_state_dict_from_official(
    state: Mapping[str, torch.Tensor], pe_atol: float = 1e-5
) -> dict[str, torch.Tensor]:
    """Keys of an official ``EgoHMR`` state dict that belong to `PoseDenoiser`, ready for ``load_state_dict``.

    Drops the backbone, scene encoder and SMPL/COAP keys (other modules) and the two copies of the positional table
    (rebuilt by `PositionalEncoding`; checked against it first). Every other key keeps its official name.

    Args:
        state: official state dict, keys relative to ``EgoHMR`` (strip a ``module.`` or similar prefix first).
        pe_atol: tolerance when checking a stored positional table.

    Returns:
        {key: tensor} for `PoseDenoiser.load_state_dict(..., strict=True)`.

    Raises:
        ValueError: a stored positional table differs from the sinusoidal table.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key in _OFFICIAL_PE_KEYS:
            table = value.reshape(value.shape[0], -1)  # official [max_len, 1, dim] -> (max_len, dim)
            expected = sinusoidal_table(table.shape[0], table.shape[1])
            if not torch.allclose(table.float().cpu(), expected, atol=pe_atol, rtol=0):
                raise ValueError(f"state dict key {key!r}: positional table differs from the sinusoidal table")
            continue
        if key.startswith(_OFFICIAL_OTHER_PREFIXES):
            continue
        out[key] = value
    return out
