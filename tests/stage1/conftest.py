"""Stage-1 test fixtures: the data tests' tiny official-layout EgoBody and its stage-1 scene points (reused)."""

from tests.data.conftest import s1_dir, tiny_egobody  # noqa: F401  (session fixtures, generated once per session)
