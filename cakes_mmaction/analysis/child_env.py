"""Environments for child processes started by tests and tools."""
import os
from typing import Dict

__all__ = ['child_env']


def child_env(*pythonpath: str, **overrides: str) -> Dict[str, str]:
    """This process's environment, extended for a child process.

    The child keeps everything the parent sees (a ``PYTHONPATH`` that
    carries the installed stack, CUDA and cuBLAS settings, ...): the given
    folders go in front of ``PYTHONPATH`` and ``overrides`` are set on top.

    Args:
        *pythonpath (str): Folders to put first on ``PYTHONPATH``.
        **overrides (str): Variables to set.

    Returns:
        dict[str, str]: The environment for ``subprocess``.
    """
    env = dict(os.environ)
    parts = list(pythonpath)
    if env.get('PYTHONPATH'):
        parts.append(env['PYTHONPATH'])
    if parts:
        env['PYTHONPATH'] = os.pathsep.join(parts)
    env.update(overrides)
    return env
