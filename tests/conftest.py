"""Shared pytest setup: the compatibility repairs run before any test."""
import os

# Keep the suite quick and reproducible on 2 cores.
os.environ.setdefault('OMP_NUM_THREADS', '1')
# impl='auto' keeps its choices in memory only (tests that persist them
# choose a temporary directory).
os.environ.setdefault('CAKES_AUTO_CACHE_DIR', 'off')

import pytest  # noqa: E402
import torch  # noqa: E402

# Without a CUDA device the triton kernels (tests/layers/triton_conv) run in
# triton's CPU interpreter. Triton reads TRITON_INTERPRET when its own and
# our jit functions are defined, i.e. when triton is first imported (as
# torch._dynamo does), so it is set before anything else is imported.
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')

import cakes_mmaction  # noqa: E402,F401  (applies _compat, registers)


@pytest.fixture(autouse=True)
def _restore_deterministic_algorithms():
    """A test that turns torch's deterministic mode on (a Runner with
    ``randomness.deterministic``) must not leave it on for the next."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
