"""Shared pytest setup: the compatibility repairs run before any test."""
import os

# Keep the suite quick and reproducible on 2 cores.
os.environ.setdefault('OMP_NUM_THREADS', '1')

import cakes_mmaction  # noqa: E402,F401  (applies _compat, registers)
