"""The compiled path builds for an H100/H200 (sm_90) without a GPU.

The interpreter runs the kernels' Python; this compiles them to cubin, as
a GPU would, so type and layout errors of the compiled path fail here.
"""
import os
import subprocess
import sys

import pytest


def test_kernels_compile_for_sm90():
    pytest.importorskip(
        'triton',
        reason='triton is not installed (the '
        'tests requirements install it)')
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (os.getcwd(), env.get('PYTHONPATH')) if p)
    code = ('from cakes_mmaction.layers.triton_conv.aot import '
            'compile_kernels\n'
            "for key, size in compile_kernels(90, ('bf16', )).items():\n"
            "    print(key, size)\n")
    out = subprocess.run([sys.executable, '-c', code],
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.split('\n')
    for kernel in ('fwd', 'dgrad', 'wgrad'):
        (line, ) = [x for x in lines if x.startswith(f'{kernel}:bf16:')]
        assert 0 < int(line.split()[1]) <= 228 * 1024  # sm_90 shared
