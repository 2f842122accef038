"""Plots and tables of channel assignments (per-layer shape shares).

:func:`plot_assignments` draws, for every layer, one stacked bar per
assignment with the share of each shape (as the figure of the paper), the
assignments side by side; :func:`assignment_table` gives the same counts as
text. Both need only assignments: no model, checkpoint or data. The figure
is a bare :class:`matplotlib.figure.Figure` (no pyplot state), so it is
safe in servers and tests.
"""
import os
from collections import OrderedDict
from typing import List, Optional, Sequence, Union

from ..assignment import Assignment, AssignmentError
from ..shapes import canonical_order
from .assignment_check import (check_assignment, check_same_network,
                               layer_order_key)

__all__ = [
    'plot_assignments', 'assignment_table', 'render_assignments',
    'cost_lines'
]

# Colour per shape: fixed for the video shapes, so every figure of the
# project reads the same; the other volumetric shapes follow.
_COLOURS = OrderedDict([
    ('3x3x3', '#c0392b'),
    ('1x3x3', '#2e86c1'),
    ('3x1x1', '#f1c40f'),
    ('3x3x1', '#8e44ad'),
    ('3x1x3', '#16a085'),
    ('1x3x1', '#d35400'),
    ('1x1x3', '#7f8c8d'),
    ('1x1x1', '#2c3e50'),
])
_HATCHES = ('', '//', '..', 'xx', '\\\\', 'oo', '++', '--')


def _labels(assignments: Sequence[Assignment],
            labels: Optional[Sequence[str]]) -> List[str]:
    if labels is None:
        labels = [
            os.path.splitext(os.path.basename(a.source))[0]
            if a.source else f'assignment {i + 1}'
            for i, a in enumerate(assignments)
        ]
    if len(labels) != len(assignments):
        raise ValueError(f'{len(labels)} labels for {len(assignments)} '
                         f'assignments')
    return list(labels)


def _union(assignments: Sequence[Assignment]):
    # Network order: stage, block and conv numbers compared as numbers.
    layers = sorted({p
                     for a in assignments for p in a},
                    key=layer_order_key)
    shapes = [
        s.name
        for s in canonical_order({s
                                  for a in assignments for s in a.shapes})
    ]
    return layers, shapes


def _short(path: str, layers: Sequence[str]) -> str:
    # 'layer3.4.conv2' -> '3.4' when every layer is a '.conv2' of a stage.
    if all(p.startswith('layer') and p.endswith('.conv2') for p in layers):
        return path[len('layer'):-len('.conv2')]
    return path


def plot_assignments(assignments: Sequence[Assignment],
                     labels: Optional[Sequence[str]] = None,
                     title: Optional[str] = None,
                     figsize: Optional[Sequence[float]] = None):
    """Per-layer stacked bars of the shape shares, assignments side by side.

    Args:
        assignments (Sequence[Assignment]): One or more assignments.
        labels (Sequence[str], optional): Their names in the legend.
            Defaults to None (file names).
        title (str, optional): Figure title. Defaults to None.
        figsize (Sequence[float], optional): Inches. Defaults to None
            (grows with the number of layers and assignments).

    Returns:
        matplotlib.figure.Figure: The figure (not shown, not registered
        with pyplot).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if not assignments:
        raise ValueError('nothing to plot: no assignments given')
    labels = _labels(assignments, labels)
    layers, shapes = _union(assignments)
    k = len(assignments)
    if figsize is None:
        # Room for the bars, the legend on the right and the title.
        width = max(6.0, 0.2 * len(layers) * (k + 0.6) + 2.5,
                    0.09 * len(title or '') + 3.0)
        figsize = (min(18.0, width), 4.5)
    fig = Figure(figsize=tuple(figsize), layout='constrained')
    ax = fig.add_subplot()
    bar = 0.8 / k
    for j, assignment in enumerate(assignments):
        xs, bottoms = [], []
        for i, path in enumerate(layers):
            if path in assignment:
                xs.append(i + (j - (k - 1) / 2) * bar)
                bottoms.append(0.0)
        present = [p for p in layers if p in assignment]
        for shape in shapes:
            shares = [
                assignment[p].get(shape, 0) / assignment.width(p)
                for p in present
            ]
            ax.bar(
                xs,
                shares,
                bar * 0.92,
                bottom=bottoms,
                color=_COLOURS.get(shape, '#95a5a6'),
                hatch=_HATCHES[j % len(_HATCHES)],
                edgecolor='white' if k == 1 else '#333333',
                linewidth=0.4)
            bottoms = [b + s for b, s in zip(bottoms, shares)]
    ax.set_xticks(range(len(layers)))
    ticks = [_short(p, layers) for p in layers]
    long_ticks = len(layers) > 8 and max(len(t) for t in ticks) > 5
    ax.set_xticklabels(ticks, rotation=90 if long_ticks else 0)
    ax.set_xlim(-0.6, len(layers) - 0.4)
    ax.set_ylim(0, 1)
    ax.set_ylabel('share of output channels')
    ax.set_xlabel('CAKES layer' + (' (stage.block)' if _short(
        layers[0], layers) != layers[0] else ''))
    handles = [
        Patch(facecolor=_COLOURS.get(s, '#95a5a6'), label=s) for s in shapes
    ]
    if k > 1:
        handles += [
            Patch(
                facecolor='white',
                edgecolor='#333333',
                hatch=_HATCHES[j % len(_HATCHES)],
                label=label) for j, label in enumerate(labels)
        ]
    ax.legend(
        handles=handles,
        loc='upper left',
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize='small')
    ax.set_title(title if title else (labels[0] if k == 1 else None))
    return fig


def _si(value: float) -> str:
    for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if abs(value) >= scale:
            return f'{value / scale:.2f}{unit}'
    return f'{value:g}'


def assignment_table(assignments: Sequence[Assignment],
                     labels: Optional[Sequence[str]] = None) -> str:
    """The counts of one or more assignments as a text table.

    One row per layer with its width and, per assignment, the count of
    every shape; then totals, each shape's share of all channels, and the
    cost recorded in ``meta`` by the exporter (from
    :mod:`cakes_mmaction.cost`) when present.

    Args:
        assignments (Sequence[Assignment]): One or more assignments.
        labels (Sequence[str], optional): Column group names.
            Defaults to None (file names).

    Returns:
        str: The table, lines joined by ``\\n``.
    """
    if not assignments:
        raise ValueError('nothing to tabulate: no assignments given')
    labels = _labels(assignments, labels)
    layers, shapes = _union(assignments)
    cell = max(7, max(len(s) for s in shapes) + 1)
    group = cell * len(shapes)
    name_w = max(len('layer'), max(len(p) for p in layers))

    def widths_of(path):
        found = {a.width(path) for a in assignments if path in a}
        return '/'.join(str(w) for w in sorted(found))

    head1 = f'{"":{name_w}} {"":>6} |' + '|'.join(
        f'{label[:group]:^{group}}' for label in labels)
    head2 = f'{"layer":{name_w}} {"width":>6} |' + '|'.join(
        ''.join(f'{s:>{cell}}' for s in shapes) for _ in assignments)
    rule = '-' * len(head2)
    lines = [head1, head2, rule]
    for path in layers:
        groups = []
        for a in assignments:
            if path in a:
                groups.append(''.join(f'{a[path].get(s, 0):>{cell}}'
                                      for s in shapes))
            else:
                groups.append(''.join(f'{"-":>{cell}}' for _ in shapes))
        lines.append(f'{path:{name_w}} {widths_of(path):>6} |' +
                     '|'.join(groups))
    lines.append(rule)
    totals, shares = [], []
    for a in assignments:
        counts = a.totals()
        channels = sum(counts.values())
        totals.append(''.join(f'{counts.get(s, 0):>{cell}}' for s in shapes))
        shares.append(''.join(
            f'{100 * counts.get(s, 0) / channels:>{cell - 1}.1f}%'
            for s in shapes))
    lines.append(f'{"total":{name_w}} {"":>6} |' + '|'.join(totals))
    lines.append(f'{"share":{name_w}} {"":>6} |' + '|'.join(shares))
    for label, a in zip(labels, assignments):
        lines += cost_lines(label, a)
    return '\n'.join(lines)


def _ratio(value: float, reference: Optional[float]) -> str:
    if not reference:
        return ''
    return f' = {100 * value / reference:.1f}%'


def cost_lines(label: str, assignment: Assignment) -> List[str]:
    """The costs an assignment's ``meta`` records, each with its scope.

    Two scopes exist and are always named: *CAKES layers only* (the part an
    assignment changes; what the search exporter records as ``flops`` /
    ``params`` with ``cost_scope``, and presets as ``cakes_layers``) and
    *whole network* (backbone and head; what presets record as ``flops`` /
    ``params``). Each ratio is to the all-3x3x3 network of the same scope,
    given only where the file records that reference.

    Args:
        label (str): The assignment's name.
        assignment (Assignment): The assignment.

    Returns:
        list[str]: Zero, one or two lines.
    """
    meta = assignment.meta
    ref = meta.get('reference') or {}
    shape = meta.get('input_shape')
    per = ('multiply-adds per clip of ' +
           'x'.join(map(str, shape))) if shape else 'multiply-adds'
    rows = []  # (scope, flops, params, ref flops, ref params)
    if 'flops' in meta and 'params' in meta:
        scope = str(meta.get('cost_scope', ''))
        if scope.startswith('CAKES layers'):
            rows.append(('CAKES layers only', meta['flops'], meta['params'],
                         ref.get('flops'), ref.get('params')))
        else:
            cakes = meta.get('cakes_layers') or {}
            if 'flops' in cakes and 'params' in cakes:
                rows.append(('CAKES layers only', cakes['flops'],
                             cakes['params'], None, None))
            rows.append(('whole network', meta['flops'], meta['params'],
                         ref.get('flops'), ref.get('params')))
    lines = []
    for scope, flops, params, ref_flops, ref_params in rows:
        line = (f'{label}: {scope}: {_si(flops)} FLOPs ({per})'
                f'{_ratio(flops, ref_flops)}, {_si(params)} params'
                f'{_ratio(params, ref_params)}')
        if ref_flops and ref_params:
            line += (f' of the all-3x3x3 {scope.replace(" only", "")} '
                     f'({_si(ref_flops)}, {_si(ref_params)})')
        lines.append(line)
    return lines


def render_assignments(specs: Sequence[Union[str, Assignment]],
                       out: Optional[str] = None,
                       labels: Optional[Sequence[str]] = None,
                       title: Optional[str] = None,
                       dpi: int = 120,
                       allow_mixed: bool = False) -> str:
    """Load and check assignments, write their plot, return their table.

    Every assignment is checked as every reader checks it: against the
    network its file records (``meta['config']``), or structurally when it
    records none (:func:`~.assignment_check.check_assignment`). A bad file
    raises before any figure is written. Assignments of different networks
    (other layers or widths) are refused unless ``allow_mixed``, which
    plots them together and says so in the table.

    Args:
        specs (Sequence[str | Assignment]): Assignment files, preset names
            or assignments.
        out (str, optional): Where to save the figure (``.png``, ``.pdf``,
            ``.svg``). Defaults to None (no figure).
        labels (Sequence[str], optional): Names. Defaults to None (file
            names).
        title (str, optional): Figure title. Defaults to None.
        dpi (int): Resolution of raster output. Defaults to 120.
        allow_mixed (bool): Plot assignments of different networks
            together. Defaults to False.

    Returns:
        str: :func:`assignment_table` of the assignments.

    Raises:
        AssignmentError: A bad assignment (naming the file, the layer and
            what was expected), or assignments of different networks.
    """
    assignments = [Assignment.resolve(s) for s in specs]
    checked = [check_assignment(a) for a in assignments]
    if labels is None:
        labels = [
            os.path.splitext(os.path.basename(os.fspath(s)))[0]
            if not isinstance(s, Assignment) else None for s in specs
        ]
        labels = [
            name or f'assignment {i + 1}' for i, name in enumerate(labels)
        ]
    notes = [
        f'{label}: checked against {c.network}'
        for label, c in zip(labels, checked)
    ]
    mixed = check_same_network(checked, labels) if checked else None
    if mixed and not allow_mixed:
        raise AssignmentError(
            f'{mixed}; plot them separately, or pass --allow-mixed to '
            'plot them together')
    if mixed:
        notes.append(f'WARNING: {mixed}')
    if out:
        fig = plot_assignments(assignments, labels, title)
        directory = os.path.dirname(os.path.abspath(out))
        os.makedirs(directory, exist_ok=True)
        fig.savefig(out, dpi=dpi)
    return '\n'.join([assignment_table(assignments, labels)] + notes)
