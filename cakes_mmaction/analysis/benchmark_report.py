"""Ratios and markdown tables of benchmark results.

The end-to-end speed targets, for a CAKES network against the all-3x3x3
one (``F`` = FLOPs):

- forward throughput >= 0.9 x (F_3D / F_CAKES) x throughput_3D, i.e.
  ``forward_vs_flops >= 0.9`` below (1.0 = exactly FLOP-proportional);
- training step <= 1.25 x (F_CAKES / F_3D) x step_3D, i.e.
  ``train_vs_flops <= 1.25``;
- peak training memory <= the all-3x3x3 network's (``ratio_mem <= 1``).
"""
from collections import OrderedDict
from typing import Dict, List, Optional

from .timing import paired_ratio

__all__ = ['flop_proportional', 'markdown_table', 'layer_markdown',
           'FORWARD_TARGET', 'TRAIN_TARGET']

FORWARD_TARGET = 0.9
TRAIN_TARGET = 1.25

#: Per-layer GPU targets: forward + backward <= 1.0 x the dense conv, and
#: <= WIDE_TARGET x for layers of WIDE_CHANNELS output channels and more.
WIDE_CHANNELS = 128
WIDE_TARGET = 0.8

inf = float('inf')


def _ratio(value: Optional[float], ref: Optional[float]) -> Optional[float]:
    if value is None or not ref:
        return None
    return value / ref


def _speed_ratio(row: dict, ref: dict, key: str) -> Optional[float]:
    # Paired by round when the rounds are known (see paired_ratio).
    rounds = key + '_rounds_s'
    if row.get(rounds) and ref.get(rounds):
        return paired_ratio(row[rounds], ref[rounds])
    return _ratio(row.get(key + '_s'), ref.get(key + '_s'))


def flop_proportional(rows: Dict[str, dict], reference: str) -> None:
    """Add ratios to the reference model to every row, in place.

    Adds ``ratio_params``, ``ratio_flops``, ``ratio_forward_b<N>``
    (throughput / reference throughput), ``ratio_train`` (step time /
    reference step time), ``ratio_mem``, and the FLOP-proportional
    comparisons ``forward_b<N>_vs_flops`` (throughput ratio x FLOPs ratio:
    1.0 when speed follows FLOPs exactly, higher is better) and
    ``train_vs_flops`` (time ratio / FLOPs ratio, lower is better). Time
    ratios are medians over rounds of the ratio within a round.

    Args:
        rows (dict[str, dict]): Benchmark rows by label.
        reference (str): Label of the reference row.
    """
    ref = rows[reference]
    for row in rows.values():
        row['ratio_params'] = _ratio(row['params'], ref['params'])
        flops = _ratio(row['flops'], ref['flops'])
        row['ratio_flops'] = flops
        for key in list(row):
            if key.startswith('forward_b') and key.endswith('_clips_per_s'):
                size = key[len('forward_b'):-len('_clips_per_s')]
                time = _speed_ratio(row, ref, f'forward_b{size}')
                speed = 1 / time if time else None
                row[f'ratio_forward_b{size}'] = speed
                row[f'forward_b{size}_vs_flops'] = (
                    speed * flops if speed is not None else None)
        train = _speed_ratio(row, ref, 'train_step')
        row['ratio_train'] = train
        row['train_vs_flops'] = _ratio(train, flops)
        row['ratio_mem'] = _ratio(row.get('peak_train_mem_bytes'),
                                  ref.get('peak_train_mem_bytes'))


def _fmt(value, spec: str = '.2f') -> str:
    return '-' if value is None else format(value, spec)


def _mark(ok: Optional[bool]) -> str:
    return '' if ok is None else (' ✓' if ok else ' ✗')


def _malloc(env: dict) -> str:
    if env.get('malloc', 'system') == 'system':
        return 'system malloc'
    return 'malloc keeping freed memory'


def _layout(options: dict) -> str:
    layout = ('channels_last_3d'
              if options.get('channels_last') else 'contiguous (NCDHW)')
    dtype = options.get('dtype', 'fp32')
    return layout if dtype == 'fp32' else f'{layout}, {dtype} autocast'


def _where(env: dict) -> str:
    # 'cuda:0 (NVIDIA H200)' or 'cpu (AMD EPYC, 2 threads)'
    if 'gpu' in env:
        return f"{env['device']} ({env['gpu']})"
    return f"{env['device']} ({env['cpu']}, {env['threads']} threads)"


def _widths(options: dict) -> str:
    # A narrow run must never pass for the real networks.
    scale = options.get('width_scale', 1)
    if scale == 1:
        return ''
    return (f'NARROW networks (every width x {scale:g}, not the real '
            f'ones), ')


def markdown_table(result: dict) -> str:
    """The end-to-end report: one row per model, then the targets.

    Args:
        result (dict): :func:`~cakes_mmaction.analysis.benchmark.
            run_benchmark` output.

    Returns:
        str: Markdown.
    """
    options, env = result['options'], result['environment']
    batch = options['shape'][0]
    sizes = ['1'] + ([str(batch)] if batch != 1 else [])
    lines = [
        f"Input {'x'.join(map(str, options['shape']))} (N C T H W), "
        f"{_widths(options)}{_where(env)}, torch "
        f"{env['torch']}, {_malloc(env)}, {_layout(options)}, medians of "
        f"{options['repeats']} rounds after {options['warmup']} warm-up, "
        f"{result['duration_s']:.0f} s.", ''
    ]
    head = ['model', 'params (M)', 'GFLOPs', 'CAKES GFLOPs']
    head += [f'fwd b{s} (clips/s)' for s in sizes]
    head += [f'train b{batch} (s)', 'peak train mem (MiB)', 'x3D FLOPs']
    head += [f'x3D fwd b{s}' for s in sizes]
    head += ['x3D train', 'x3D mem']
    lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for label, row in result['models'].items():
        mem = row.get('peak_train_mem_bytes')
        cells = [
            label,
            _fmt(row['params'] / 1e6, '.1f'),
            _fmt(row['flops'] / 1e9, '.1f'),
            _fmt(row['cakes_flops'] / 1e9 if row['cakes_flops'] else None,
                 '.1f')
        ]
        cells += [_fmt(row[f'forward_b{s}_clips_per_s']) for s in sizes]
        cells += [
            _fmt(row['train_step_s']),
            _fmt(mem / 2**20 if mem is not None else None, '.0f'),
            _fmt(row['ratio_flops'])
        ]
        cells += [_fmt(row[f'ratio_forward_b{s}']) for s in sizes]
        cells += [_fmt(row['ratio_train']), _fmt(row['ratio_mem'])]
        lines.append('| ' + ' | '.join(cells) + ' |')
    cakes = [(k, r) for k, r in result['models'].items()
             if r['impl'] is not None and r['cakes_flops'] and
             r['model'] != 'all_3x3x3']
    if cakes:
        lines += [
            '', 'Targets against the all-3x3x3 network: '
            f'forward >= {FORWARD_TARGET} and train <= {TRAIN_TARGET} '
            'times FLOP-proportional, memory <= 1.', ''
        ]
        head = ['model', 'x3D FLOPs']
        head += [f'fwd b{s} / FLOP-prop.' for s in sizes]
        head += ['train / FLOP-prop.', 'x3D mem']
        lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
        for label, row in cakes:
            cells = [label, _fmt(row['ratio_flops'])]
            for s in sizes:
                value = row[f'forward_b{s}_vs_flops']
                cells.append(
                    _fmt(value) + _mark(None if value is None else
                                        value >= FORWARD_TARGET))
            value = row['train_vs_flops']
            cells.append(
                _fmt(value) +
                _mark(None if value is None else value <= TRAIN_TARGET))
            value = row['ratio_mem']
            cells.append(
                _fmt(value) + _mark(None if value is None else value <= 1))
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def layer_markdown(result: dict) -> str:
    """The per-layer report: time ratio against FLOPs ratio per layer.

    Args:
        result (dict): Per-layer :func:`~cakes_mmaction.analysis.
            benchmark.run_benchmark` output.

    Returns:
        str: Markdown, one table per model.
    """
    options, env = result['options'], result['environment']
    impls = options.get('layer_impls', options['impls'])
    lines: List[str] = [
        f"Clip {'x'.join(map(str, options['shape'][1:]))} (C T H W), batch "
        f"{options.get('layer_batch', 1)}, {_widths(options)}{_where(env)}, "
        f"torch {env['torch']}, {_malloc(env)}, {_layout(options)}, "
        f"medians of {options['repeats']} rounds after {options['warmup']} "
        f"warm-up, {result['duration_s']:.0f} s. "
        'Ratios are time / time of the dense 3x3x3 Conv3d at the same '
        'input; target: ratio <= 1.15 x FLOPs ratio. *fast padded*: the '
        "multiply-adds of the fast plan with every group padded to the "
        "backend's output-channel block; *modelled best*: the best "
        'candidate plan if every convolution ran as fast per padded '
        'multiply-add as a full-width convolution of its kernel (table '
        'below) and nothing else cost time.'
    ]
    for model, rows in result['layers'].items():
        lines += ['', f'**{model}**', '']
        head = [
            'layer', 'counts', 'FLOPs ratio', 'target', 'fast padded',
            'modelled best', 'dense fwd (ms)'
        ]
        head += [f'fwd {i}' for i in impls]
        head += [f'fwd+bwd {i}' for i in impls if rows and 'train' in rows[0]]
        head += ['auto plan (fwd / fwd+bwd)'] if 'auto' in impls else []
        lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
        for row in rows:
            target = row['target_ratio']
            cells = [
                row['path'], '/'.join(map(str, row['counts'].values())),
                _fmt(row['flops_ratio']), _fmt(target),
                _fmt(row.get('padded_ratio')),
                _fmt(row.get('modelled_ratio')) + _mark(
                    None if row.get('modelled_ratio') is None else
                    row['modelled_ratio'] <= target),
                _fmt(row['forward']['dense_conv3d'] * 1e3, '.1f')
            ]
            for mode in ('forward', 'train'):
                if mode not in row:
                    continue
                for impl in impls:
                    value = row[f'{mode}_ratio'].get(impl)
                    cells.append(
                        _fmt(value) +
                        _mark(None if value is None else value <= target))
            if 'auto' in impls:
                cells.append(' / '.join(
                    plans['auto'].split(':')[0]
                    for plans in row['plans'].values()))
            lines.append('| ' + ' | '.join(cells) + ' |')
        met = OrderedDict()
        for impl in impls:
            met[impl] = sum(
                row['forward_ratio'].get(impl, inf) <= row['target_ratio']
                for row in rows)
        lines += [
            '', 'Layers meeting the target (forward): ' + ', '.join(
                f'{impl} {n}/{len(rows)}' for impl, n in met.items())
        ]
        lines += _dense_time_lines(rows, impls)
        missing = sorted({(i, r) for row in rows
                          for i, r in row.get('unavailable', {}).items()})
        lines += [f'Not run: `{i}` ({r}).' for i, r in missing]
        lines += _efficiency_lines(
            result.get('shape_efficiency', {}).get(model, []))
    return '\n'.join(lines) + '\n'


def _dense_time_lines(rows: List[dict], impls: List[str]) -> List[str]:
    # The GPU targets: forward + backward within the dense conv's time,
    # within 0.8 of it for layers of 128 output channels and more.
    if not rows or 'train_ratio' not in rows[0]:
        return []
    wide = [r for r in rows if sum(r['counts'].values()) >= WIDE_CHANNELS]
    cells = []
    for impl in impls:
        within = sum(r['train_ratio'].get(impl, inf) <= 1.0 for r in rows)
        fast_wide = sum(r['train_ratio'].get(impl, inf) <= WIDE_TARGET
                        for r in wide)
        worst = max((r['train_ratio'].get(impl, inf) for r in rows))
        cells.append(f'{impl} {within}/{len(rows)}, {fast_wide}/{len(wide)}'
                     f' (worst {_fmt(worst)})')
    return [
        f'Forward + backward <= 1.0 x dense (all layers), <= {WIDE_TARGET} '
        f'x dense (the {len(wide)} layers of >= {WIDE_CHANNELS} channels): '
        + '; '.join(cells)
    ]


def _efficiency_lines(rows: List[dict]) -> List[str]:
    if not rows:
        return []
    shapes = list(rows[0]['shapes'])
    lines = [
        '', 'One full-width convolution of each shape (`fast`) against the '
        'dense conv, forward: time ratio / FLOPs ratio (1.00 = as fast per '
        'multiply-add as the dense conv).', '',
        '| input (N C T H W) | stride | layers | dense fwd (ms) | ' +
        ' | '.join(shapes) + ' |', '|' + '---|' * (4 + len(shapes))
    ]
    for row in rows:
        paths = row['layers']
        where = paths[0] + (f' (+{len(paths) - 1})' if len(paths) > 1 else '')
        cells = [
            'x'.join(map(str, row['input_shape'])),
            'x'.join(map(str, row['stride'])), where,
            _fmt(row['dense_s'] * 1e3, '.1f')
        ]
        cells += [_fmt(row['shapes'][s]['per_flop']) for s in shapes]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines
