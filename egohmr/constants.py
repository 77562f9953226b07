"""Joint sets, kinematic tree and joint maps shared by every layer.

Sources: SMPL (Loper et al. 2015) joint order and kinematic tree; OpenPose BODY_25 keypoint order;
the SMPL -> OpenPose and OpenPose -> SMPL maps of the official EgoHMR code
(`../shared/spec/reference-egohmr.md` sections 2 and 3).
"""

from __future__ import annotations

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip
NUM_SMPL_JOINTS = 24
NUM_BODY_JOINTS = 23  # SMPL joints without the root (global orientation)
NUM_BETAS = 10

# Pose vector sizes: the body pose in axis-angle (npz `pose`, 23 x 3) and the 24-joint 6D pose of the flow and the
# diffusion model (24 x 6; joint 0 = global orientation).
BODY_POSE_AA_DIM = NUM_BODY_JOINTS * 3
POSE_6D_DIM = NUM_SMPL_JOINTS * 6

# Parent of each SMPL joint; -1 for the root.
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)  # fmt: skip

# The 23 (parent, child) edges of the kinematic tree: the graph of the stage-2 GCN.
SMPL_EDGES: tuple[tuple[int, int], ...] = tuple(
    (parent, child) for child, parent in enumerate(SMPL_PARENTS) if parent >= 0
)

# Surface landmarks read off vertices (in this order) to complete OpenPose BODY_25.
LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip

# Vertex ids of the landmarks on the real SMPL mesh (6,890 vertices), in LANDMARK_NAMES order.
SMPL_LANDMARK_VERTEX_IDS: tuple[int, ...] = (332, 6260, 2800, 4071, 583, 3216, 3226, 3387, 6617, 6624, 6787)

OPENPOSE25_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)  # fmt: skip
NUM_OPENPOSE_JOINTS = 25

# For each OpenPose BODY_25 keypoint, its index into [24 SMPL joints | 11 landmarks] (official
# `smpl_to_openpose`, spec section 2).
SMPL_TO_OPENPOSE: tuple[int, ...] = (
    24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
)  # fmt: skip

# OpenPose keypoints ignored by the 2D keypoint losses (Neck, MidHip, LHip; spec section 2).
OPENPOSE_IGNORED_IN_2D_LOSS: tuple[int, ...] = (1, 9, 12)
OPENPOSE_MIDHIP = 8

# For each SMPL joint, the OpenPose keypoint whose confidence decides its visibility (spec section 3).
# Default (official training): pelvis/spine <- MidHip, hips <- OpenPose hips, neck <- nose, ...
OPENPOSE_TO_SMPL_VISIBILITY: tuple[int, ...] = (
    8, 12, 9, 8, 13, 10, 8, 14, 11, 8, 14, 11, 0, 5, 2, 0, 5, 2, 6, 3, 7, 4, 7, 4,
)  # fmt: skip
# "pelvis_vis_loosen" (official test default): hips take the knees' visibility, neck <- OpenPose neck.
OPENPOSE_TO_SMPL_VISIBILITY_LOOSE: tuple[int, ...] = (
    8, 13, 10, 8, 13, 10, 8, 14, 11, 8, 14, 11, 1, 5, 2, 0, 5, 2, 6, 3, 7, 4, 7, 4,
)  # fmt: skip

# Joints moved by collision guidance: hips, knees, ankles, feet (spec section 3).
LOWER_BODY_JOINTS: tuple[int, ...] = (1, 2, 4, 5, 7, 8, 10, 11)

# ImageNet normalisation of the official crops, in 0..1 RGB units (spec section 2).
IMAGENET_MEAN_RGB: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB: tuple[float, float, float] = (0.229, 0.224, 0.225)

# Side of the square image crop fed to the backbones (official 224 x 224), px.
CROP_SIZE_PX = 224

# Official normaliser of the focal length in the conditioning vector: fx_norm = fx / 1500 px.
FX_NORM_PX = 1500.0
# MPII convention: npz `scale` = bbox side / 200 px; the official loader enlarges boxes by 1.2.
BBOX_SCALE_UNIT_PX = 200.0
BBOX_ENLARGE = 1.2

# Unit conversions.
MM_PER_M = 1000.0
HOLO_TICKS_PER_S = 10_000_000  # HoloLens timestamps count 100 ns ticks
