"""Reading 2D body keypoints of every frame: OpenPose BODY_25 JSON, COCO-17 and COCO-WholeBody JSON.

Accepted inputs (docs/infer.md):
    * a folder of OpenPose files, one per frame, named ``<frame>_keypoints.json`` (OpenPose's ``--write_json``) or
      ``<frame>.json``: ``{"people": [{"pose_keypoints_2d": [x, y, c] * 25}, ...]}``; one such file for a one-frame
      recording;
    * one COCO JSON file: a results list ``[{"image_id" or "file_name", "keypoints": [x, y, v] * 17 or * 133}, ...]``
      or a dataset ``{"images": [{"id", "file_name", "width", "height"}], "annotations": [...]}``. WholeBody
      annotations with separate ``foot_kpts`` are read too. Entries are matched to frames by file name (or stem);
      a results entry without ``file_name`` by ``image_id``: a string names the frame, an integer the frame whose
      stem is that number (``000123`` for 123). Entries of other images or categories are ignored.
Every person becomes OpenPose BODY_25 (`keypoint_maps.coco_to_op25` for COCO).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.constants import NUM_OPENPOSE_JOINTS
from egohmr.recordings.frames import Frame, frame_keys
from egohmr.recordings.keypoint_maps import NUM_COCO17, NUM_WHOLEBODY, WHOLEBODY_FOOT_START, coco_to_op25

__all__ = ["FrameKeypoints", "check_keypoints_in_image", "read_keypoints"]

IMAGE_MARGIN_FRACTION = 0.1
"""Confident keypoints may lie this fraction of the image size outside it (detectors extrapolate a little)."""
COCO_PERSON_CATEGORY = 1
WHOLEBODY_FOOT_FIELD = "foot_kpts"


@dataclass(frozen=True)
class FrameKeypoints:
    """The people detected in one frame.

    Attributes:
        people_op25: (N, 25, 3) float64 OpenPose BODY_25 (x px, y px, confidence) of N >= 0 people, file order.
        source: the file (and entry) they come from, for error messages.
        image_size: (width, height) px stated by the file (COCO ``images``), None when the format has none.
    """

    people_op25: np.ndarray
    source: str
    image_size: tuple[int, int] | None = None


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{what}: {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"{what}: {path} is empty (0 bytes)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what}: {path} is not valid JSON ({err})") from None


def _triplets(values: Any, count: int | tuple[int, ...], where: str) -> np.ndarray:
    """A flat [x, y, c] * K list -> (K, 3) float64 with K in `count`, finite."""
    counts = (count,) if isinstance(count, int) else count
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a list of numbers") from None
    if arr.size not in [3 * k for k in counts]:
        wanted = " or ".join(f"{3 * k} ({k} x [x, y, c])" for k in counts)
        raise ValueError(f"{where}: expected {wanted} numbers, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: contains NaN or inf")
    return arr.reshape(-1, 3)


# ------------------------------------------------------------------------------------------------------- OpenPose
def _openpose_people(data: Any, where: str) -> np.ndarray:
    """OpenPose ``{"people": [...]}`` -> (N, 25, 3)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("people"), list):
        raise ValueError(f"{where}: expected an OpenPose file {{'people': [{{'pose_keypoints_2d': [...]}}]}}")
    people = []
    for i, person in enumerate(data["people"]):
        if not isinstance(person, Mapping) or "pose_keypoints_2d" not in person:
            raise ValueError(f"{where}: people[{i}] has no field 'pose_keypoints_2d'")
        field = f"{where}: people[{i}].pose_keypoints_2d"
        people.append(_triplets(person["pose_keypoints_2d"], NUM_OPENPOSE_JOINTS, f"{field} (OpenPose BODY_25)"))
    return np.stack(people) if people else np.zeros((0, NUM_OPENPOSE_JOINTS, 3))


def _openpose_folder(folder: Path, frames: Sequence[Frame]) -> dict[str, FrameKeypoints]:
    out = {}
    for frame in frames:
        candidates = [folder / f"{frame.name}_keypoints.json", folder / f"{frame.name}.json"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"keypoints: no OpenPose file for frame {frame.name!r} in {folder} (looked for "
                f"{candidates[0].name} and {candidates[1].name})"
            )
        people = _openpose_people(_read_json(path, "keypoints"), str(path))
        out[frame.name] = FrameKeypoints(people, str(path))
    return out


# ----------------------------------------------------------------------------------------------------------- COCO
def _coco_person(entry: Mapping[str, Any], where: str) -> np.ndarray:
    """One COCO entry -> (25, 3) BODY_25 (17 or 133 keypoints; WholeBody ``foot_kpts`` appended when present)."""
    if "keypoints" not in entry:
        raise ValueError(f"{where}: no field 'keypoints'")
    kp = _triplets(entry["keypoints"], (NUM_COCO17, NUM_WHOLEBODY), f"{where}.keypoints (COCO-17 or WholeBody)")
    if kp.shape[0] == NUM_COCO17 and WHOLEBODY_FOOT_FIELD in entry:
        feet = _triplets(entry[WHOLEBODY_FOOT_FIELD], 6, f"{where}.{WHOLEBODY_FOOT_FIELD}")
        full = np.zeros((NUM_WHOLEBODY, 3))
        full[:NUM_COCO17] = kp
        full[WHOLEBODY_FOOT_START : WHOLEBODY_FOOT_START + 6] = feet
        kp = full
    return coco_to_op25(kp)


def _frame_index(frames: Sequence[Frame]) -> dict[str, str]:
    """Every name a COCO file may use for a frame (stem, file name, numeric stem as int text) -> frame name."""
    index = {}
    for frame in frames:
        for key in frame_keys(frame):
            index[key] = frame.name
        if frame.name.isdigit():
            index.setdefault(str(int(frame.name)), frame.name)
    return index


def _coco_key(entry: Mapping[str, Any], images: Mapping[Any, Mapping[str, Any]] | None) -> str | None:
    """The name an entry gives its image: ``file_name`` (base name), else its ``image_id``."""
    if images is not None:
        image = images.get(entry.get("image_id"))
        return None if image is None else Path(str(image.get("file_name", ""))).name
    if "file_name" in entry:
        return Path(str(entry["file_name"])).name
    image_id = entry.get("image_id")
    return None if image_id is None else str(image_id)


def _coco(path: Path, data: Any, frames: Sequence[Frame]) -> dict[str, FrameKeypoints]:
    images = None
    entries = data
    if isinstance(data, Mapping):
        if not isinstance(data.get("annotations"), list) or not isinstance(data.get("images"), list):
            raise ValueError(f"keypoints: {path}: a COCO dataset needs lists 'images' and 'annotations'")
        images = {img.get("id"): img for img in data["images"] if isinstance(img, Mapping)}
        entries = data["annotations"]
    index = _frame_index(frames)
    people: dict[str, list[np.ndarray]] = {f.name: [] for f in frames}
    sizes: dict[str, tuple[int, int]] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: {'annotations' if images is not None else 'entry'}[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected an object with 'keypoints', got {type(entry).__name__}")
        if entry.get("category_id", COCO_PERSON_CATEGORY) != COCO_PERSON_CATEGORY:
            continue
        key = _coco_key(entry, images)
        name = index.get(key) if key is not None else None
        if name is None and key is not None:
            name = index.get(Path(key).stem)
        if name is None:
            continue
        people[name].append(_coco_person(entry, where))
        if images is not None:
            image = images[entry["image_id"]]
            if "width" in image and "height" in image:
                sizes[name] = (int(image["width"]), int(image["height"]))
    if not any(people.values()):
        first = frames[0].path.name if frames else "?"
        raise ValueError(
            f"keypoints: no entry of {path} matches a frame (entries are matched by file name, e.g. {first!r}, or by "
            "image_id = frame name or number)"
        )
    return {
        name: FrameKeypoints(
            np.stack(ps) if ps else np.zeros((0, NUM_OPENPOSE_JOINTS, 3)), f"{path} (frame {name})", sizes.get(name)
        )
        for name, ps in people.items()
    }


# ------------------------------------------------------------------------------------------------------- entry
def read_keypoints(source: str | Path, frames: Sequence[Frame]) -> dict[str, FrameKeypoints]:
    """The keypoints of every frame, whatever the format (module docstring).

    Args:
        source: a folder of OpenPose files, one OpenPose file (one-frame recordings) or one COCO JSON file.
        frames: the recording's frames (`list_frames`).

    Returns:
        {frame name: FrameKeypoints} for every frame (COCO frames without an entry have N = 0 people).

    Raises:
        FileNotFoundError: missing source or a frame without its OpenPose file. ValueError: bad JSON, a wrong
            keypoint count (the message names the file and entry), an OpenPose file for several frames, or a COCO
            file none of whose entries matches a frame.
    """
    path = Path(source)
    if path.is_dir():
        return _openpose_folder(path, frames)
    data = _read_json(path, "keypoints")
    if isinstance(data, Mapping) and "people" in data:
        if len(frames) != 1:
            raise ValueError(
                f"keypoints: {path} is one OpenPose file but the recording has {len(frames)} frames; give the folder "
                "of per-frame files (<frame>_keypoints.json)"
            )
        return {frames[0].name: FrameKeypoints(_openpose_people(data, str(path)), str(path))}
    if isinstance(data, list) or (isinstance(data, Mapping) and "annotations" in data):
        return _coco(path, data, frames)
    raise ValueError(
        f"keypoints: {path} is neither an OpenPose file ('people') nor COCO keypoints (a list of results or a "
        "dataset with 'images' and 'annotations')"
    )


def check_keypoints_in_image(
    keypoints: FrameKeypoints, width: int, height: int, frame: str, conf_threshold: float = 0.0
) -> None:
    """Refuse keypoints made for another image size: a stated size that differs, or a confident keypoint more than
    `IMAGE_MARGIN_FRACTION` of the image outside it.

    Raises:
        ValueError: naming the file, the frame and the sizes.
    """
    if keypoints.image_size is not None and tuple(keypoints.image_size) != (width, height):
        w, h = keypoints.image_size
        raise ValueError(
            f"keypoints: {keypoints.source} is for a {w}x{h} image but frame {frame!r} is {width}x{height} px"
        )
    kp = keypoints.people_op25
    confident = kp[..., 2] > conf_threshold  # (N, 25)
    if not confident.any():
        return
    x, y = kp[..., 0][confident], kp[..., 1][confident]
    mx, my = IMAGE_MARGIN_FRACTION * width, IMAGE_MARGIN_FRACTION * height
    outside = (x < -mx) | (x > width + mx) | (y < -my) | (y > height + my)
    if outside.any():
        raise ValueError(
            f"keypoints: {keypoints.source}: {int(outside.sum())} confident keypoints of frame {frame!r} lie outside "
            f"its {width}x{height} px image (x up to {x.max():.0f}, y up to {y.max():.0f}); were they computed on "
            "images of another size? Rescale them or use the images they were computed on"
        )
