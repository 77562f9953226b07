"""Reuse the tiny EgoBody fixtures of the data tests."""

from tests.data.conftest import s1_dir, s2_root, tiny_egobody  # noqa: F401
