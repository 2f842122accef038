"""Pure-torch CAKES operators (no registry imports)."""
from .cakes_conv import CAKESConv3d

__all__ = ['CAKESConv3d']
