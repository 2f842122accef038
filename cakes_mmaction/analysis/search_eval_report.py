"""The numbers and the text of a search evaluation.

Per-seed metrics (:func:`pair_metrics` for time-reversed class pairs,
:func:`summarize` over seeds), the verdicts on the two targets of a
search that pays, the Markdown table, and the rewrite of the marked
section of a document that shows it. Everything here reads a finished
result (a dict or its JSON file); nothing trains or measures.
"""
import math
import re
import statistics
from typing import Any, Dict, List, Sequence

__all__ = [
    'pair_metrics', 'summarize', 'verdicts', 'format_table',
    'replace_marked_section', 'BEGIN', 'END'
]


def pair_metrics(preds: Sequence[int],
                 labels: Sequence[int]) -> Dict[str, float]:
    """Top-1, pair and direction accuracy for time-reversed class pairs.

    Classes ``2k`` and ``2k + 1`` are a pair (a clip and its reversal).

    Args:
        preds (Sequence[int]): Predicted classes.
        labels (Sequence[int]): True classes.

    Returns:
        dict[str, float]: ``top1``; ``pair`` (the predicted class is in
        the right pair); ``direction`` (right class among the clips whose
        pair was right; NaN when no pair was right). Fractions 0-1.
    """
    if len(preds) != len(labels) or not labels:
        raise ValueError(f'need as many predictions as labels (> 0), got '
                         f'{len(preds)} and {len(labels)}')
    right = sum(p == t for p, t in zip(preds, labels))
    pair = sum(p // 2 == t // 2 for p, t in zip(preds, labels))
    return dict(
        top1=right / len(labels),
        pair=pair / len(labels),
        direction=right / pair if pair else math.nan)


def summarize(values: Sequence[float]) -> Dict[str, float]:
    """Mean and sample standard deviation (0 for a single value).

    Args:
        values (Sequence[float]): Per-seed figures.

    Returns:
        dict[str, float]: ``mean``, ``sd``, ``n``.
    """
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return dict(mean=math.nan, sd=math.nan, n=0)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return dict(mean=statistics.fmean(values), sd=sd, n=len(values))


def _status(ok: bool, gap: float, a: Dict[str, float],
            b: Dict[str, float]) -> str:
    """MET, NOT SHOWN or MISSED, with a note when the gap is noise.

    A target counts as met only when its rule holds by more than the seed
    spread (the larger standard deviation of the two networks); a rule that
    holds within the spread is ``NOT SHOWN``.
    """
    spread = max(a['sd'], b['sd'])
    within = abs(gap) <= spread
    note = (f' (the gap is within the seed spread, sd {spread:.1f}: '
            'not a difference these seeds can show)' if within else '')
    if not ok:
        return 'MISSED' + note
    return ('NOT SHOWN' if within else 'MET') + note


def _standard_errors(gap: float, a: Dict[str, float],
                     b: Dict[str, float]) -> str:
    """The gap in standard errors of the difference of the two means.

    Welch's statistic, ``gap / sqrt(sd_a^2 / n_a + sd_b^2 / n_b)``, for
    information: the verdict is the spread rule, which asks more.
    Nothing is said with fewer than two seeds or no spread.
    """
    if min(a['n'], b['n']) < 2:
        return ''
    se = math.sqrt(a['sd']**2 / a['n'] + b['sd']**2 / b['n'])
    return f'; {gap / se:+.1f} standard errors' if se > 0 else ''


def verdicts(result: Dict[str, Any]) -> List[str]:
    """The two targets of a search that pays, checked on a result.

    - searched >= uniform + 3 points top-1 at matched MACs (+-5% of the
      uniform network's MACs);
    - searched >= all-3x3x3 top-1 at <= 0.75 of its MACs.

    A rule that holds by no more than the larger seed standard deviation
    of the two networks is ``NOT SHOWN``, not met: these seeds cannot tell
    the networks apart. With two seeds or more, each line also gives the
    gap in standard errors of the difference of the means (Welch), which
    says how sure the mean gap is but does not change the verdict.

    Args:
        result (dict): From
            :func:`~cakes_mmaction.analysis.search_evaluation.run_search_eval`.

    Returns:
        list[str]: One line per searched network and target.
    """
    costs, summary = result['costs'], result['summary']
    lines = []
    for name in summary:
        if not name.startswith('searched_'):
            continue
        top1 = summary[name]['top1']
        if 'uniform' in summary:
            ref = summary['uniform']['top1']
            ratio = costs[name]['macs'] / costs['uniform']['macs']
            gap = top1['mean'] - ref['mean']
            matched = abs(ratio - 1) <= 0.05
            ok = matched and gap >= 3
            lines.append(
                f'{name} vs uniform: {gap:+.1f} points top-1 (target >= '
                f'+3.0) at {ratio:.3f} x its MACs (target 0.95-1.05; seed '
                f'sd {top1["sd"]:.1f} / {ref["sd"]:.1f}'
                f'{_standard_errors(gap, top1, ref)}): '
                f'{_status(ok, gap, top1, ref)}')
        if 'all_3x3x3' in summary:
            ref = summary['all_3x3x3']['top1']
            ratio = costs[name]['macs'] / costs['all_3x3x3']['macs']
            gap = top1['mean'] - ref['mean']
            ok = ratio <= 0.75 and gap >= 0
            lines.append(
                f'{name} vs all-3x3x3: {gap:+.1f} points top-1 (target '
                f'>= 0) at {ratio:.3f} x its MACs (target <= 0.75; seed '
                f'sd {top1["sd"]:.1f} / {ref["sd"]:.1f}'
                f'{_standard_errors(gap, top1, ref)}): '
                f'{_status(ok, gap, top1, ref)}')
    return lines


def _si(x: float) -> str:
    for scale, unit in ((1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(x) >= scale:
            return f'{x / scale:.2f}{unit}'
    return f'{x:.0f}'


def format_table(result: Dict[str, Any]) -> str:
    """Markdown table of a search evaluation result.

    Args:
        result (dict): The result (or the JSON file, loaded).

    Returns:
        str: The table, the verdicts and how it was measured.
    """
    settings, costs = result['settings'], result['costs']
    seeds = list(settings['seeds'])
    pairs = settings.get('pairs', True)
    head = ['network', 'channels 3x3x3 / 1x3x3 / 3x1x1',
            'top-1 per seed (' + ' / '.join(map(str, seeds)) + ')',
            'top-1 mean +- sd']
    if pairs:
        head += ['pair acc.', 'direction acc. (right pair)']
    head += ['MACs (CAKES layers)', 'x all-3x3x3', 'ms / clip']
    rows = ['| ' + ' | '.join(head) + ' |',
            '|' + '---|' * len(head)]
    ref = costs.get('all_3x3x3', {}).get('macs')
    for name, summary in result['summary'].items():
        runs = result['runs'][name]
        c = costs[name]
        counts = c['counts']
        top1 = summary['top1']
        cells = [
            name, ' / '.join(
                str(counts.get(s, 0)) for s in ('3x3x3', '1x3x3', '3x1x1')),
            ' / '.join(f'{100 * runs[str(s)]["top1"]:.1f}' for s in seeds),
            f'{top1["mean"]:.1f} +- {top1["sd"]:.1f}'
        ]
        if pairs:
            cells += [
                f'{summary["pair"]["mean"]:.1f}',
                f'{summary["direction"]["mean"]:.1f}'
            ]
        cells += [
            f'{_si(c["macs"])} ({_si(c["cakes_macs"])})',
            f'{c["macs"] / ref:.3f}' if ref else '-',
            f'{1e3 * c["seconds_per_clip"]:.2f}'
        ]
        rows.append('| ' + ' | '.join(cells) + ' |')
    shape = 'x'.join(map(str, settings['input_shape'][2:]))
    lines = rows + [
        '',
        f'Top-1, pair and direction accuracy in % on the test list, '
        f'{len(seeds)} training seeds; MACs per {shape} clip '
        '(mmengine count of the whole network, CAKES layers in brackets); '
        f'ms / clip: {costs["_timing"]["note"]}, '
        f'{costs["_timing"]["threads"]} torch thread(s).',
        ''
    ] + [f'- {v}' for v in result.get('verdicts', [])]
    return '\n'.join(lines) + '\n'


BEGIN, END = '<!-- search-eval:begin -->', '<!-- search-eval:end -->'


def replace_marked_section(path: str, text: str) -> None:
    """Replace what lies between the search-eval markers of a file.

    The markers count only on lines of their own, so prose that mentions
    them (as this project's docs do) is left alone.

    Args:
        path (str): A Markdown file holding :data:`BEGIN` and :data:`END`,
            each on a line of its own.
        text (str): The new content.
    """
    with open(path) as f:
        content = f.read()
    begin = re.search('^' + re.escape(BEGIN) + '$', content, re.M)
    end = re.search('^' + re.escape(END) + '$', content, re.M)
    if begin is None or end is None or end.start() < begin.end():
        raise ValueError(f'{path}: no {BEGIN} ... {END} section (each '
                         f'marker on a line of its own) to replace')
    content = content[:begin.end()] + '\n' + text + content[end.start():]
    with open(path, 'w') as f:
        f.write(content)
