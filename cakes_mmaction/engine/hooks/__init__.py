"""Hooks registered in mmaction2's ``HOOKS`` registry."""
from .atomic_checkpoint_hook import AtomicCheckpointHook

__all__ = ['AtomicCheckpointHook']
