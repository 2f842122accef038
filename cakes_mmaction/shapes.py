"""Sub-kernel shapes of a k x k x k cube, written ``'TxHxW'``.

A CAKES layer replaces one k x k x k convolution by parallel convolutions
whose kernels are sub-shapes of that cube: each axis has extent ``k`` or 1.
For k=3 these are the eight shapes ``3x3x3``, ``1x3x3``, ``3x1x1``,
``3x3x1``, ``3x1x3``, ``1x3x1``, ``1x1x3`` and ``1x1x1``.

Branches are always concatenated in :func:`canonical_order`: larger kernel
volume first, then ``(T, H, W)`` descending. For the video shapes this is
``3x3x3, 1x3x3, 3x1x1``, the order of the official CAKES code.
"""
import itertools
from dataclasses import dataclass
from typing import Iterable, List, Tuple, Union

__all__ = [
    'KernelShape', 'parse_shape', 'canonical_order', 'cube_shapes',
    'VIDEO_SHAPES', 'SHAPE_SETS'
]


@dataclass(frozen=True, order=False)
class KernelShape:
    """One sub-kernel shape.

    Args:
        t (int): Temporal extent.
        h (int): Height extent.
        w (int): Width extent.
    """

    t: int
    h: int
    w: int

    def __post_init__(self) -> None:
        for axis, size in zip('THW', self.dims):
            if not isinstance(size, int) or size < 1 or size % 2 == 0:
                raise ValueError(
                    f'kernel extent along {axis} must be a positive odd '
                    f'integer, got {size!r} in {self.dims}')

    @property
    def dims(self) -> Tuple[int, int, int]:
        """tuple[int, int, int]: ``(T, H, W)``."""
        return (self.t, self.h, self.w)

    @property
    def volume(self) -> int:
        """int: Number of taps, ``T * H * W``."""
        return self.t * self.h * self.w

    @property
    def padding(self) -> Tuple[int, int, int]:
        """tuple[int, int, int]: "Same" padding (dilation 1)."""
        return tuple(d // 2 for d in self.dims)

    @property
    def name(self) -> str:
        """str: ``'TxHxW'``."""
        return f'{self.t}x{self.h}x{self.w}'

    def fits_in(self, k: Union[int, Tuple[int, int, int]]) -> bool:
        """Whether this shape is a sub-kernel of a cube of side(s) ``k``.

        Args:
            k (int | tuple[int, int, int]): The dense kernel size.

        Returns:
            bool: True when each axis is either 1 or the dense extent.
        """
        dense = (k, k, k) if isinstance(k, int) else tuple(k)
        return all(d in (1, full) for d, full in zip(self.dims, dense))

    def sort_key(self) -> Tuple[int, Tuple[int, int, int]]:
        """Key of :func:`canonical_order` (ascending sort)."""
        return (-self.volume, tuple(-d for d in self.dims))

    def __str__(self) -> str:
        return self.name


def parse_shape(spec: Union[str, KernelShape, Iterable[int]]) -> KernelShape:
    """Parse ``'3x1x1'``, ``(3, 1, 1)`` or a :class:`KernelShape`.

    Args:
        spec (str | KernelShape | Iterable[int]): The shape.

    Returns:
        KernelShape: The parsed shape.

    Raises:
        ValueError: The spec is not three positive odd extents.
    """
    if isinstance(spec, KernelShape):
        return spec
    if isinstance(spec, str):
        parts = spec.lower().split('x')
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(
                f"kernel shape must be written 'TxHxW' (e.g. '3x1x1'), "
                f'got {spec!r}')
        return KernelShape(*(int(p) for p in parts))
    dims = tuple(spec)
    if len(dims) != 3:
        raise ValueError(f'kernel shape needs 3 extents, got {spec!r}')
    return KernelShape(*(int(d) for d in dims))


def canonical_order(
        shapes: Iterable[Union[str, KernelShape]]) -> List[KernelShape]:
    """Sort shapes into the concatenation order of CAKES layers.

    Args:
        shapes (Iterable[str | KernelShape]): Shapes, any order.

    Returns:
        list[KernelShape]: Unique shapes, largest volume first.
    """
    unique = {parse_shape(s) for s in shapes}
    return sorted(unique, key=KernelShape.sort_key)


def cube_shapes(k: int = 3) -> List[KernelShape]:
    """All ``2**3`` sub-kernel shapes of a k x k x k cube.

    Args:
        k (int): Side of the cube. Defaults to 3.

    Returns:
        list[KernelShape]: In canonical order.
    """
    return canonical_order(
        KernelShape(*dims) for dims in itertools.product((k, 1), repeat=3))


#: The shapes the paper searches over for video.
VIDEO_SHAPES = ('3x3x3', '1x3x3', '3x1x1')

#: Named shape sets, usable wherever a shape list is accepted.
SHAPE_SETS = {
    'video': VIDEO_SHAPES,
    '12d': ('1x3x3', '3x1x1'),
    '23d': ('3x3x3', '1x3x3'),
    '123d': VIDEO_SHAPES,
    'volumetric': tuple(s.name for s in cube_shapes(3)),
    'volumetric_2d': ('3x3x1', '3x1x3', '1x3x3'),
}
