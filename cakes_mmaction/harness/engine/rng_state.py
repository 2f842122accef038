"""Capture and restore the random state of a process.

A resumed run draws the same random numbers as an uninterrupted one only if
every generator it uses continues where it stopped: Python's ``random``,
NumPy's global generator (mmaction2's random transforms), torch's CPU
generator (dropout, DataLoader seeds) and the CUDA generators.
"""
import random

import numpy as np
import torch

__all__ = ['get_rng_state', 'set_rng_state']


def get_rng_state() -> dict:
    """The state of every global random generator of this process.

    Returns:
        dict: ``python``, ``numpy``, ``torch`` (and ``cuda`` when CUDA is
        initialised); the values load with torch's weights-only unpickler.
    """
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned.

    Args:
        state (dict): The saved state.
    """
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
