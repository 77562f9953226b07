"""The allow-list mechanism itself: allowed names cannot be misused, legitimate files of every protocol still load."""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from egohmr.body.io import SMPL_FILE
from egohmr.data.egobody_format import RecordingTransforms, read_transf_matrices, write_transf_matrices
from egohmr.evaluate.results_io import PredictionResults, read_official_stage2, write_official_stage2
from egohmr.safe_load import NUMPY_DATA, UnsafeFileError, load_pickle, unpickle
from tests.security.payloads import PROTOCOLS


def _unpickle(data: bytes, allowed=NUMPY_DATA):
    return unpickle(io.BytesIO(data), allowed, where="crafted.pkl", what="test pickle")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # BUILD on an allowed function: would set attributes of numpy's _reconstruct for the whole process
        (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n}b.", "modify numpy _reconstruct"),
        # _reconstruct with a subtype other than ndarray
        (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\nK\x00\x85U\x01b\x87R.", "numpy _reconstruct"),
        # _codecs.encode with a codec other than latin-1
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R.", "_codecs.encode"),
        # a dotted name resolved attribute by attribute (protocol 4 allows it): never a match of an exact pair
        (b"\x80\x04\x8c\x05numpy\x8c\x0cndarray.dump\x93.", "numpy.ndarray.dump"),
        # module of an allowed name, other name
        (b"\x80\x02cnumpy\nload\n.", "numpy.load"),
    ],
    ids=["build_on_function", "reconstruct_subtype", "encode_codec", "dotted_name", "other_name"],
)
def test_allowed_names_cannot_be_misused(data, message):
    with pytest.raises(UnsafeFileError, match=rf"crafted\.pkl.*{message}"):
        _unpickle(data)


def test_reconstructor_builds_only_stand_ins():
    """`copyreg._reconstructor(cls, base, state)` calls `base.__new__(cls)`: only stand-in classes may be built."""
    good = b"ccopy_reg\n_reconstructor\n(cchumpy.ch\nCh\nc__builtin__\nobject\nNtR}S'x'\nI1\nsb."
    assert _unpickle(good, SMPL_FILE).x == 1
    evil = b"ccopy_reg\n_reconstructor\n(cnumpy\nndarray\nc__builtin__\nobject\nNtR."
    with pytest.raises(UnsafeFileError, match=r"crafted\.pkl.*copyreg\._reconstructor"):
        _unpickle(evil, SMPL_FILE)
    with pytest.raises(UnsafeFileError, match=r"crafted\.pkl.*copy_reg\._reconstructor"):
        _unpickle(good)  # results files name no classes at all


def test_corrupt_pickle_is_a_value_error_naming_the_file():
    with pytest.raises(ValueError, match=r"crafted\.pkl: not a readable test pickle"):
        _unpickle(b"\x80\x02}q\x00(X")


def _results(n: int = 3, s: int = 2) -> PredictionResults:
    rng = np.random.default_rng(0)
    eye = np.broadcast_to(np.eye(3, dtype=np.float32), (n, s, 3, 3))
    return PredictionResults(
        pred_betas=rng.normal(size=(n, s, 10)).astype(np.float32),
        pred_global_orient_rotmat=eye.copy(),
        pred_body_pose_rotmat=np.broadcast_to(np.eye(3, dtype=np.float32), (n, s, 23, 3, 3)).copy(),
        pred_transl_pv=rng.normal(size=(n, 3)).astype(np.float32),
        imgname=None,
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_results_pickles_of_every_protocol_load(tmp_path, protocol):
    """Official stage-2 files are protocol 2, ours protocol 4/5; all round-trip through the allow-list."""
    written = tmp_path / "written.pkl"
    write_official_stage2(written, _results())
    with written.open("rb") as fh:
        content = pickle.load(fh)  # our own file, to re-save it in another protocol
    content["collision_ratio_list"] = [[np.float64(0.5)] * 2] * 3  # (N, S) numpy scalars in lists
    path = tmp_path / f"results_p{protocol}.pkl"
    path.write_bytes(pickle.dumps(content, protocol=protocol))
    loaded = read_official_stage2(path)
    np.testing.assert_array_equal(loaded.pred_betas, content["pred_betas_list"])
    np.testing.assert_array_equal(loaded.stored_collision_ratio, np.full((3, 2), 0.5))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_values_of_every_protocol_load(tmp_path, protocol):
    value = {
        "arrays": [np.arange(6, dtype=np.int64).reshape(2, 3), np.zeros((2, 2), np.float32).T, np.array(["a", "bc"])],
        "scalars": (np.float32(1.5), np.int64(7), np.bool_(True)),
        "containers": (OrderedDict(a=1), {1, 2}, frozenset({3}), b"raw", 2.5, None, True),
    }
    path = tmp_path / "values.pkl"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    loaded = load_pickle(path, NUMPY_DATA, what="test pickle")
    for got, want in zip(loaded["arrays"], value["arrays"], strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded["scalars"] == value["scalars"] and loaded["containers"] == value["containers"]


def test_transf_matrices_written_by_us_load(tmp_path):
    transforms = {"rec": RecordingTransforms(kinect2holo=np.eye(4), world2pv={"123": np.eye(4), "124": np.eye(4)})}
    path = tmp_path / "transf_matrices_all_seqs.pkl"
    write_transf_matrices(path, transforms)
    loaded = read_transf_matrices(path)
    assert sorted(loaded["rec"].world2pv) == ["123", "124"]
    np.testing.assert_array_equal(loaded["rec"].kinect2holo, np.eye(4))
