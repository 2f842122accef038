"""tests/conftest.py: torch threads per test process and the order in
which pytest-xdist receives the files."""
import os
import os.path as osp
from types import SimpleNamespace

from tests.conftest import (SLOW_FILES, _threads_per_process,
                            pytest_collection_modifyitems)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_threads_are_the_cores_shared_among_the_workers(monkeypatch):
    cores = len(os.sched_getaffinity(0)) if hasattr(
        os, 'sched_getaffinity') else os.cpu_count()
    monkeypatch.delenv('PYTEST_XDIST_WORKER_COUNT', raising=False)
    assert _threads_per_process() == 1
    monkeypatch.setenv('PYTEST_XDIST_WORKER_COUNT', '1')
    assert _threads_per_process() == 1
    monkeypatch.setenv('PYTEST_XDIST_WORKER_COUNT', str(2 * cores))
    assert _threads_per_process() == 1  # never 0
    if cores >= 2:
        monkeypatch.setenv('PYTEST_XDIST_WORKER_COUNT', '2')
        assert _threads_per_process() == cores // 2


def test_the_expensive_files_exist_and_come_first(request):
    # A renamed or moved file would silently lose its place at the front.
    missing = [p for p in SLOW_FILES if not osp.isfile(osp.join(ROOT, p))]
    assert not missing, f'tests/conftest.py SLOW_FILES: no such file(s) ' \
        f'{missing}'
    rank = {path: i for i, path in enumerate(SLOW_FILES)}
    order = [
        rank.get(
            osp.relpath(str(item.path), ROOT).replace(os.sep, '/'),
            len(rank)) for item in request.session.items
    ]
    assert order == sorted(order)


def test_the_hook_moves_the_expensive_files_first_and_keeps_the_rest():
    def item(path, name):
        return SimpleNamespace(path=osp.join(ROOT, path), name=name)

    items = [
        item('tests/a/test_cheap.py', 'a1'),
        item(SLOW_FILES[1], 'slow1_a'),
        item('tests/a/test_cheap.py', 'a2'),
        item('tests/b/test_cheap.py', 'b1'),
        item(SLOW_FILES[0], 'slow0'),
        item(SLOW_FILES[1], 'slow1_b'),
    ]
    config = SimpleNamespace(rootpath=ROOT)
    pytest_collection_modifyitems(None, config, items)
    assert [i.name for i in items] == [
        'slow0', 'slow1_a', 'slow1_b', 'a1', 'a2', 'b1'
    ]
