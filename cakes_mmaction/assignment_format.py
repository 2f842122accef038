"""The assignment file format: raw data in, checked counts out, and back.

Reads assignment files (JSON or YAML) and shipped presets, checks the
header and every count of raw data with a message that names the source,
the layer and the shape, and writes the format with deterministic bytes.
:class:`~cakes_mmaction.assignment.Assignment` is the value built from
what this module returns.

File format (JSON, deterministic bytes)::

    {"format": "cakes-assignment", "version": 1,
     "shapes": ["3x3x3", "1x3x3", "3x1x1"],
     "layers": {"layer1.0.conv2": {"3x3x3": 10, "1x3x3": 30,
                                   "3x1x1": 24}, ...},
     "meta": {...}}

This module imports neither torch nor mmengine.
"""
import json
import os
from collections import OrderedDict
from importlib import resources
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .shapes import canonical_order, parse_shape

__all__ = [
    'AssignmentError', 'FORMAT_NAME', 'FORMAT_VERSION', 'MAX_CHANNELS',
    'PRESETS', 'list_presets', 'where_prefix', 'check_counts',
    'parse_file_data', 'file_dict', 'read_file_data', 'write_file',
    'preset_data'
]

FORMAT_NAME = 'cakes-assignment'
FORMAT_VERSION = 1

#: Most output channels one shape of one layer may hold: far above any
#: real width, low enough that a corrupt count (1e18) is an error at once.
MAX_CHANNELS = 1 << 16

#: Preset name -> package data file (``cakes_mmaction/presets``).
PRESETS = {
    'cakes12d_p': 'cakes12d_p.json',
    'cakes12d_c': 'cakes12d_c.json',
    'cakes23d_p': 'cakes23d_p.json',
    'cakes23d_c': 'cakes23d_c.json',
    'cakes123d_p': 'cakes123d_p.json',
    'cakes123d_c': 'cakes123d_c.json',
}

Counts = Dict[str, Dict[str, int]]


class AssignmentError(ValueError):
    """A channel assignment that cannot be used, with where and why."""


def list_presets() -> List[str]:
    """Names of the shipped published assignments.

    Returns:
        list[str]: Preset names, sorted.
    """
    return sorted(PRESETS)


def where_prefix(source: Optional[str]) -> str:
    """``'<source>: '`` to start an error message, or ``''``."""
    return f'{source}: ' if source else ''


def check_counts(layers: Mapping[str, Mapping[str, int]],
                 source: Optional[str] = None) -> Tuple[Tuple[str, ...],
                                                        Counts]:
    """Check raw counts and bring them to one shape set.

    Args:
        layers (Mapping[str, Mapping[str, int]]): Counts per layer path.
        source (str, optional): For error messages.

    Returns:
        tuple: The shape set (names, canonical order) and the counts, every
        layer listing every shape of the set in that order (0 where a
        layer did not name it).

    Raises:
        AssignmentError: Not a non-empty mapping of layer paths to
            ``{shape: count}``, an unknown or repeated shape, a count that
            is not a non-negative integer or above :data:`MAX_CHANNELS`,
            or a layer without channels.
    """
    where = where_prefix(source)
    if not isinstance(layers, Mapping) or not layers:
        raise AssignmentError(
            f'{where}an assignment needs a non-empty mapping of layer '
            f'paths to {{shape: count}}, got {type(layers).__name__}')
    names = set()
    for path, counts in layers.items():
        if not isinstance(path, str):
            raise AssignmentError(
                f'{where}layer names must be module paths such as '
                f"'layer1.0.conv2', got {path!r}")
        if not isinstance(counts, Mapping):
            raise AssignmentError(
                f'{where}layer {path!r}: expected a mapping '
                f'{{shape: count}}, got {counts!r}')
        for shape in counts:
            try:
                names.add(parse_shape(shape).name)
            except ValueError as err:
                raise AssignmentError(
                    f'{where}layer {path!r}: unknown kernel shape '
                    f'{shape!r} ({err})') from None
    shapes = tuple(s.name for s in canonical_order(names))
    checked: Counts = OrderedDict()
    for path, counts in layers.items():
        parsed = {}
        for key, value in counts.items():
            name = parse_shape(key).name
            if name in parsed:
                spellings = [
                    k for k in counts if parse_shape(k).name == name
                ]
                raise AssignmentError(
                    f'{where}layer {path!r}: shape {name} is given '
                    f'twice ({spellings}); give each shape once')
            parsed[name] = value
        row = OrderedDict()
        for shape in shapes:
            row[shape] = _checked_count(parsed.get(shape, 0), where, path,
                                        shape)
        if sum(row.values()) == 0:
            raise AssignmentError(
                f'{where}layer {path!r} has no output channels: every '
                f'count is 0 ({dict(row)})')
        checked[path] = row
    return shapes, checked


def _checked_count(value: Any, where: str, path: str, shape: str) -> int:
    """One count as an int, or an error naming the layer and the shape."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise AssignmentError(
                f'{where}layer {path!r}, shape {shape}: counts '
                f'must be non-negative integers, got {value!r}')
    if value < 0:
        raise AssignmentError(
            f'{where}layer {path!r}, shape {shape}: counts '
            f'must be non-negative integers, got {value}')
    if value > MAX_CHANNELS:
        raise AssignmentError(
            f'{where}layer {path!r}, shape {shape}: {value} '
            f'output channels is not a layer width (at most '
            f'{MAX_CHANNELS})')
    return value


def parse_file_data(
    data: Any,
    source: Optional[str] = None
) -> Tuple[Mapping[str, Any], Optional[Dict[str, Any]]]:
    """The layers and the metadata of parsed file data.

    Args:
        data (Any): Parsed JSON/YAML: the file format, or a bare
            ``{path: counts}`` map.
        source (str, optional): For error messages.

    Returns:
        tuple: The raw counts per layer (checked by :func:`check_counts`
        later) and the metadata (None for a bare map).

    Raises:
        AssignmentError: Not a mapping, or a wrong format name, version or
            metadata.
    """
    where = where_prefix(source)
    if not isinstance(data, Mapping):
        raise AssignmentError(
            f'{where}expected a mapping at the top level, got '
            f'{type(data).__name__}')
    if 'layers' not in data:
        return data, None
    fmt = data.get('format', FORMAT_NAME)
    if fmt != FORMAT_NAME:
        raise AssignmentError(
            f'{where}"format" is {fmt!r}, expected {FORMAT_NAME!r}')
    version = data.get('version', FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise AssignmentError(
            f'{where}"version" is {version!r}; this cakes_mmaction '
            f'reads version {FORMAT_VERSION}')
    meta = data.get('meta') or {}
    if not isinstance(meta, Mapping):
        raise AssignmentError(f'{where}"meta" must be a mapping')
    return data['layers'], dict(meta)


def file_dict(shapes: Tuple[str, ...], layers: Counts,
              meta: Dict[str, Any]) -> Dict[str, Any]:
    """The file format as a plain dict.

    Args:
        shapes (tuple[str, ...]): The shape set.
        layers (dict): Counts per layer.
        meta (dict): Metadata.

    Returns:
        dict: Format, version, shapes, layers and meta, in that order.
    """
    return OrderedDict(
        format=FORMAT_NAME,
        version=FORMAT_VERSION,
        shapes=list(shapes),
        layers=layers,
        meta=meta)


def read_file_data(path: str) -> Any:
    """Parse an assignment file (``.json``, or ``.yaml``/``.yml``).

    Args:
        path (str): File path.

    Returns:
        Any: The parsed data, for :func:`parse_file_data`.

    Raises:
        AssignmentError: No such file, or text that does not parse.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AssignmentError(f'{path}: assignment file not found')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        if path.endswith(('.yaml', '.yml')):
            import yaml
            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as err:  # json/yaml parse errors differ
        raise AssignmentError(
            f'{path}: not a valid assignment file ({err})') from None


def write_file(path: str, json_text: str) -> None:
    """Write the file format (JSON, or YAML for ``.yaml``/``.yml``).

    The file is written to a temporary name and renamed, so a crash never
    leaves half a file.

    Args:
        path (str): Destination.
        json_text (str): The format as deterministic JSON text.
    """
    path = os.fspath(path)
    if path.endswith(('.yaml', '.yml')):
        import yaml
        text = yaml.safe_dump(json.loads(json_text), sort_keys=False)
    else:
        text = json_text
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f'{path}.tmp.{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)


def preset_data(name: str) -> Tuple[Any, str]:
    """The parsed file of a shipped preset and its source name.

    Args:
        name (str): Preset name (any case), see :func:`list_presets`.

    Returns:
        tuple: The parsed JSON and ``'preset:<name>'``.
    """
    key = name.lower()
    if key not in PRESETS:
        raise AssignmentError(
            f'unknown assignment preset {name!r}; known presets: '
            f'{list_presets()} (or give a file path, a dict of layers '
            f'or dict(uniform=[shapes]))')
    text = resources.files('cakes_mmaction.presets').joinpath(
        PRESETS[key]).read_text(encoding='utf-8')
    return json.loads(text), f'preset:{key}'
