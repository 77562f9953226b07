"""Tests of egohmr.models."""
