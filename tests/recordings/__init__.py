"""Tests of `egohmr.recordings` (user recordings as pipeline inputs)."""
