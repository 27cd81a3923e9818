"""Helpers for tests that ship with the package (they build models offline)."""
