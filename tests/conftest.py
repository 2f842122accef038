"""Shared pytest setup: the compatibility repairs run before any test."""
import os


def _threads_per_process() -> int:
    """Torch threads for this test process.

    One alone (two threads competing with other processes on 2 cores
    stall at every barrier); under pytest-xdist the cores this process may
    use, shared among the workers, so that they never oversubscribe them.
    """
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers <= 1:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, 'sched_getaffinity') else (os.cpu_count() or 1)
    return max(1, cores // workers)


# Set before torch is imported, so that torch and the subprocesses the
# tests start (which inherit it) use that many threads.
os.environ.setdefault('OMP_NUM_THREADS', str(_threads_per_process()))
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

# Also when torch was imported before this file (a plugin).
if os.environ['OMP_NUM_THREADS'].isdigit():
    torch.set_num_threads(max(1, int(os.environ['OMP_NUM_THREADS'])))

#: The test files that cost the most, most expensive first (measured with
#: ``--durations``; see :func:`pytest_collection_modifyitems`).
SLOW_FILES = (
    'tests/analysis/test_benchmark.py',
    'tests/tools/test_gpu_check.py',
    'tests/search/test_search_eval.py',
    'tests/tools/test_training_tools.py',
    'tests/docs/test_custom_dataset.py',
    'tests/configs/test_shipped_configs.py',
    'tests/apis/test_train_api.py',
    'tests/engine/test_dist_watchdog.py',
    'tests/layers/triton_conv/test_op.py',
    'tests/test_compat_extras.py',
    'tests/search/test_export_options.py',
    'tests/layers/triton_conv/test_impl.py',
    'tests/tools/test_search_tools.py',
    'tests/engine/test_cpu_allocator.py',
    'tests/datasets/test_bad_videos.py',
    'tests/tools/test_get_flops.py',
)


def pytest_collection_modifyitems(session, config, items):
    """Run the most expensive files first.

    With ``--dist loadfile --no-loadscope-reorder`` (the README's test
    command) pytest-xdist hands out whole files in collection order, so
    the long files start at once on different workers instead of one of
    them running alone at the end.
    The sort is stable: every other file, and the tests inside a file,
    keep pytest's order.
    """
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    root = str(config.rootpath)

    def key(item):
        path = os.path.relpath(str(item.path), root).replace(os.sep, '/')
        return rank.get(path, len(rank))

    items.sort(key=key)


@pytest.fixture(autouse=True)
def _restore_deterministic_algorithms():
    """A test that turns torch's deterministic mode on (a Runner with
    ``randomness.deterministic``) must not leave it on for the next."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
