"""Tests of egohmr.diffusion."""
