"""keep_freed_memory: glibc keeps freed blocks for the next allocation."""
import platform
import subprocess
import sys
import textwrap

import pytest

# A child process: the setting is process-wide and cannot be undone. It
# measures glibc's defaults first, then asks (one interpreter start-up, as
# the import of the package is what costs here).
CHILD = textwrap.dedent('''
    from cakes_mmaction.harness.engine.cpu_allocator import keep_freed_memory

    def rss_kib():
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])

    def grown_and_returned_mib():
        before = rss_kib()
        x = torch.ones(64, 2**20)  # 256 MiB, touched
        touched = rss_kib()
        del x
        after = rss_kib()
        return (touched - before) // 1024, (touched - after) // 1024

    import torch
    print(*grown_and_returned_mib())
    first = keep_freed_memory()
    assert first == {'M_MMAP_MAX': 0,
                     'M_TRIM_THRESHOLD': 2**31 - 1}, first
    assert keep_freed_memory() == first  # idempotent
    print(*grown_and_returned_mib())
''')


def _run():
    """(grown, returned) MiB with glibc's defaults, then when asked."""
    out = subprocess.run([sys.executable, '-c', CHILD],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    system, cached = out.stdout.splitlines()[-2:]
    return tuple(map(int, system.split())), tuple(map(int, cached.split()))


@pytest.mark.skipif(platform.system() != 'Linux' or
                    not platform.libc_ver()[0] == 'glibc',
                    reason='glibc only')
def test_freed_memory_is_kept_only_when_asked():
    (grown, returned), (grown_cached, returned_cached) = _run()
    assert grown >= 250 and returned >= 250  # munmap'ed at once
    assert grown_cached >= 250 and returned_cached < 16  # kept for reuse
