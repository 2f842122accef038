"""Channel assignments: which output channels of each layer use which shape.

An :class:`Assignment` maps every CAKES layer, named by its module path in
the backbone (``'layer3.4.conv2'``), to the number of output channels of
each sub-kernel shape. It is the one currency of the project: presets,
files, the backbone, the search exporter, cost tables and plots all use it.

The file format (reading, writing, checking raw counts and their error
messages) is :mod:`cakes_mmaction.assignment_format`; its names stay
importable from here.

This module imports neither torch nor mmengine.
"""
import copy
import json
import os
from collections import OrderedDict
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Union

from .assignment_format import (FORMAT_NAME, FORMAT_VERSION, MAX_CHANNELS,
                                PRESETS, AssignmentError, check_counts,
                                file_dict, list_presets, parse_file_data,
                                preset_data, read_file_data, where_prefix,
                                write_file)
from .layer_keys import BACKBONE_PREFIX, branch_key, parse_branch_key
from .shapes import SHAPE_SETS, canonical_order

__all__ = [
    'Assignment', 'AssignmentError', 'PRESETS', 'list_presets',
    'FORMAT_NAME', 'FORMAT_VERSION', 'MAX_CHANNELS', 'shape_set_names'
]


def shape_set_names(shapes: Union[str, Iterable[str]],
                    source: Optional[str] = None) -> Tuple[str, ...]:
    """The shapes of a shape list or of a named shape set.

    Args:
        shapes (str | Iterable[str]): A shape list or the name of one of
            :data:`~cakes_mmaction.shapes.SHAPE_SETS`.
        source (str, optional): For error messages.

    Returns:
        tuple[str, ...]: Shape names, canonical order, at least one.
    """
    if isinstance(shapes, str):
        if shapes not in SHAPE_SETS:
            raise AssignmentError(
                f'{where_prefix(source)}unknown shape set {shapes!r}; known: '
                f'{sorted(SHAPE_SETS)} (or give a list of shapes)')
        shapes = SHAPE_SETS[shapes]
    try:
        ordered = tuple(s.name for s in canonical_order(shapes))
    except ValueError as err:
        raise AssignmentError(f'{where_prefix(source)}{err}') from None
    if not ordered:
        raise AssignmentError(
            f'{where_prefix(source)}a uniform split needs at least one shape')
    return ordered


class Assignment(Mapping):
    """Ordered ``{layer path: {shape name: count}}`` with metadata.

    Counts of every layer list the same shapes (the assignment's shape set)
    in canonical order; a count may be 0.

    Args:
        layers (Mapping[str, Mapping[str, int]]): Counts per layer.
        meta (dict, optional): Free-form provenance and cost metadata.
        source (str, optional): Where it came from (file path or preset),
            used in error messages.
    """

    def __init__(self,
                 layers: Mapping[str, Mapping[str, int]],
                 meta: Optional[Dict[str, Any]] = None,
                 source: Optional[str] = None) -> None:
        self.source = source
        self.meta = dict(meta or {})
        self.shapes, self._layers = check_counts(layers, source)

    # Mapping protocol ----------------------------------------------------
    def __getitem__(self, path: str) -> Dict[str, int]:
        try:
            return self._layers[path]
        except KeyError:
            raise KeyError(
                f'{where_prefix(self.source)}no layer {path!r} in the '
                f'assignment (layers: {", ".join(self._layers)})') from None

    def __iter__(self):
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Assignment):
            return NotImplemented
        return self.to_layers() == other.to_layers()

    def __repr__(self) -> str:
        return (f'Assignment({len(self)} layers, shapes={list(self.shapes)}, '
                f'source={self.source!r})')

    # Views ---------------------------------------------------------------
    def width(self, path: str) -> int:
        """Total output channels of one layer."""
        return sum(self[path].values())

    def nonzero(self, path: str) -> Dict[str, int]:
        """Counts of one layer with zero-count shapes dropped."""
        return {s: n for s, n in self[path].items() if n}

    def to_layers(self) -> Dict[str, Dict[str, int]]:
        """Plain nested dict copy of the counts."""
        return {p: dict(c) for p, c in self._layers.items()}

    def totals(self) -> Dict[str, int]:
        """Channels per shape summed over all layers."""
        return {s: sum(c[s] for c in self._layers.values())
                for s in self.shapes}

    def with_meta(self, **meta: Any) -> 'Assignment':
        """Copy with extra metadata merged in."""
        merged = copy.deepcopy(self.meta)
        merged.update(meta)
        return Assignment(self._layers, merged, self.source)

    # Validation ----------------------------------------------------------
    def validated(self, widths: Mapping[str, int]) -> 'Assignment':
        """Check this assignment against a network's CAKES layers.

        Args:
            widths (Mapping[str, int]): Output width of every CAKES layer of
                the network, by module path.

        Returns:
            Assignment: ``self``, when it fits.

        Raises:
            AssignmentError: A layer is missing, unknown, or its counts do
                not sum to its width. The message names the source, the
                layer and the expected width.
        """
        where = where_prefix(self.source)
        missing = [p for p in widths if p not in self._layers]
        unknown = [p for p in self._layers if p not in widths]
        if unknown:
            raise AssignmentError(
                f'{where}layer {unknown[0]!r} is not a CAKES layer of this '
                f'network (unknown: {unknown}); expected layers: '
                f'{list(widths)}')
        if missing:
            raise AssignmentError(
                f'{where}no counts for layer {missing[0]!r} (missing: '
                f'{missing}); every CAKES layer of the network needs one')
        for path, width in widths.items():
            got = self.width(path)
            if got != width:
                raise AssignmentError(
                    f'{where}layer {path!r}: counts {self.nonzero(path)} '
                    f'sum to {got}, expected the layer width {width}')
        return self

    # Construction --------------------------------------------------------
    @classmethod
    def uniform(cls,
                widths: Mapping[str, int],
                shapes: Union[str, Iterable[str]] = 'video',
                source: Optional[str] = None) -> 'Assignment':
        """Split every layer as evenly as possible over ``shapes``.

        The remainder goes to the first shapes in canonical order.

        Args:
            widths (Mapping[str, int]): Width of every layer, by path.
            shapes (str | Iterable[str]): A shape list or the name of one of
                :data:`~cakes_mmaction.shapes.SHAPE_SETS`.
            source (str, optional): For error messages.

        Returns:
            Assignment: The uniform split.
        """
        ordered = list(shape_set_names(shapes, source))
        layers = OrderedDict()
        for path, width in widths.items():
            base, rest = divmod(int(width), len(ordered))
            layers[path] = {
                s: base + (1 if i < rest else 0)
                for i, s in enumerate(ordered)
            }
        meta = dict(source='uniform', shapes=ordered)
        return cls(layers, meta, source or f'uniform{ordered}')

    @classmethod
    def from_dict(cls,
                  data: Mapping[str, Any],
                  source: Optional[str] = None) -> 'Assignment':
        """Build from the file format, or a bare ``{path: counts}`` map.

        Args:
            data (Mapping): Parsed JSON/YAML.
            source (str, optional): For error messages.

        Returns:
            Assignment: The parsed assignment.
        """
        layers, meta = parse_file_data(data, source)
        return cls(layers, meta, source)

    def to_dict(self) -> Dict[str, Any]:
        """The file format as a plain dict."""
        return file_dict(self.shapes, self.to_layers(), self.meta)

    @classmethod
    def load(cls, path: str) -> 'Assignment':
        """Read an assignment file (``.json``, or ``.yaml``/``.yml``).

        Args:
            path (str): File path.

        Returns:
            Assignment: The parsed, self-consistent assignment.
        """
        path = os.fspath(path)
        return cls.from_dict(read_file_data(path), source=path)

    def dumps(self) -> str:
        """Deterministic JSON text of the file format."""
        return json.dumps(self.to_dict(), indent=1) + '\n'

    def save(self, path: str) -> None:
        """Write the file format (JSON, or YAML for ``.yaml``/``.yml``).

        The file is written to a temporary name and renamed, so a crash
        never leaves half a file.

        Args:
            path (str): Destination.
        """
        write_file(path, self.dumps())

    @classmethod
    def preset(cls, name: str) -> 'Assignment':
        """Load one of the six published assignments.

        Args:
            name (str): Preset name, see :func:`list_presets`.

        Returns:
            Assignment: The preset.
        """
        data, source = preset_data(name)
        return cls.from_dict(data, source=source)

    @classmethod
    def resolve(cls,
                spec: Any,
                widths: Optional[Mapping[str, int]] = None) -> 'Assignment':
        """Turn any accepted ``assignment`` argument into an Assignment.

        This is the only place a user's spec becomes an Assignment.

        Args:
            spec: One of

                - an :class:`Assignment`;
                - a preset name (``'cakes123d_p'``);
                - a path to a ``.json``/``.yaml`` file;
                - ``dict(layers={...})`` or a bare ``{path: {shape: n}}``;
                - ``dict(uniform=[shapes])`` or ``dict(uniform='video')``.
            widths (Mapping[str, int], optional): Widths of the network's
                CAKES layers. Required for ``uniform``; when given, the
                result is validated against them.

        Returns:
            Assignment: The resolved (and validated) assignment.
        """
        if isinstance(spec, Assignment):
            result = spec
        elif isinstance(spec, (str, os.PathLike)):
            text = os.fspath(spec)
            if text.lower() in PRESETS:
                result = cls.preset(text)
            elif os.path.splitext(text)[1] or os.sep in text:
                result = cls.load(text)
            else:
                raise AssignmentError(
                    f'assignment {text!r} is neither a preset '
                    f'({list_presets()}) nor a file path')
        elif isinstance(spec, Mapping):
            if set(spec) == {'uniform'}:
                if widths is None:
                    raise AssignmentError(
                        'dict(uniform=...) needs the network widths')
                result = cls.uniform(widths, spec['uniform'])
            else:
                result = cls.from_dict(spec, source='config')
        else:
            raise AssignmentError(
                f'assignment must be a preset name, a file path, a dict of '
                f'layers or dict(uniform=[shapes]); got '
                f'{type(spec).__name__}: {spec!r}')
        if widths is not None:
            result.validated(widths)
        return result

    @classmethod
    def from_state_dict(cls,
                        state_dict: Mapping[str, Any],
                        prefix: str = BACKBONE_PREFIX) -> 'Assignment':
        """Recover the counts from a CAKES state dict.

        Branch weights are stored under
        :func:`~cakes_mmaction.layer_keys.branch_key` with shape
        ``(count, C_in, T, H, W)``; absent branches have count 0.

        Args:
            state_dict (Mapping[str, Any]): Keys to tensors (anything with
                ``.shape``).
            prefix (str): Prefix of the backbone's keys.

        Returns:
            Assignment: The counts found.
        """
        layers: Dict[str, Dict[str, int]] = OrderedDict()
        for key, value in state_dict.items():
            parsed = parse_branch_key(key, prefix)
            if parsed is not None:
                path, shape = parsed
                layers.setdefault(path, {})[shape] = int(value.shape[0])
        if not layers:
            raise AssignmentError(
                f'no CAKES layers (keys '
                f'"{branch_key("<layer>", "<shape>", prefix)}") in the '
                f'state dict')
        return cls(layers, dict(source='state_dict'), 'state_dict')
