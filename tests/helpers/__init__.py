"""Helpers for tests: tiny generated media and tiny runner setups."""
