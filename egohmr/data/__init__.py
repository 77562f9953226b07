"""EgoBody data: official file formats, crops and augmentation, visibility, scene points, datasets, statistics.

Modules (import them directly; this package imports nothing heavy):
    * ``egobody_format``: official on-disk layout and readers/writers.
    * ``crop``: bounding boxes, affine crop maps, image warp and normalisation.
    * ``augment``: training augmentation applied consistently to image, 2D, 3D, SMPL and scene.
    * ``visibility``: OpenPose -> SMPL joint visibility (the stage-2 conditioning mask).
    * ``scene_points``: scene points (stage-1 frustum crops, stage-2 cubes) mapped to the PV camera frame.
    * ``dataset``: ``EgoBodyDataset`` (stage 1 and stage 2) and ``SAMPLE_FIELDS``, the one list of sample keys.
    * ``stats``: diffusion pose statistics (``preprocess_stats.npz``).
"""
