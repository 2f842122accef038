"""Shared pytest setup: the compatibility repairs run before any test."""
import os

# Keep the suite quick and reproducible on 2 cores.
os.environ.setdefault('OMP_NUM_THREADS', '1')
# impl='auto' keeps its choices in memory only (tests that persist them
# choose a temporary directory).
os.environ.setdefault('CAKES_AUTO_CACHE_DIR', 'off')

import cakes_mmaction  # noqa: E402,F401  (applies _compat, registers)
