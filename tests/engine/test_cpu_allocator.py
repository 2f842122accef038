"""keep_freed_memory: glibc keeps freed blocks for the next allocation."""
import platform
import subprocess
import sys
import textwrap

import pytest

# A child process: the setting is process-wide and cannot be undone.
CHILD = textwrap.dedent('''
    import sys
    from cakes_mmaction.harness.engine.cpu_allocator import keep_freed_memory

    def rss_kib():
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])

    if sys.argv[1] == 'cached':
        first = keep_freed_memory()
        assert first == {'M_MMAP_MAX': 0,
                         'M_TRIM_THRESHOLD': 2**31 - 1}, first
        assert keep_freed_memory() == first  # idempotent
    import torch
    before = rss_kib()
    x = torch.ones(64, 2**20)  # 256 MiB, touched
    touched = rss_kib()
    del x
    after = rss_kib()
    print((touched - before) // 1024, (touched - after) // 1024)
''')


def _run(mode):
    out = subprocess.run([sys.executable, '-c', CHILD, mode],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    grown, returned = map(int, out.stdout.split())
    return grown, returned


@pytest.mark.skipif(platform.system() != 'Linux' or
                    not platform.libc_ver()[0] == 'glibc',
                    reason='glibc only')
def test_freed_memory_is_kept_only_when_asked():
    grown, returned = _run('system')
    assert grown >= 250 and returned >= 250  # munmap'ed at once
    grown, returned = _run('cached')
    assert grown >= 250 and returned < 16  # kept for the next tensor
