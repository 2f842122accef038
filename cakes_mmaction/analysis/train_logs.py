"""Read mmengine's JSON training logs; plot curves, sum up iteration time.

mmengine's ``LoggerHook`` writes one JSON object per logged line to
``<work_dir>/<timestamp>/vis_data/<timestamp>.json``: training lines hold
``epoch``, ``iter`` (the global iteration), ``lr``, ``loss``, ``time``...;
validation lines hold the metrics (``acc/top1``...) and ``step`` (the
epoch). :func:`load_train_log` reads one file, or every run of a work dir in
time order (a resumed run continues the curve). :func:`plot_curves` draws
keys over iterations for several runs; :func:`train_time_stats` is
mmaction2's ``cal_train_time``. ``tools/analysis/analyze_logs.py`` is the
command line.
"""
import glob
import json
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

__all__ = [
    'TrainLog', 'find_json_logs', 'load_train_log', 'plot_curves',
    'train_time_stats'
]


@dataclass
class TrainLog:
    """The logged lines of one training run.

    Args:
        source (str): The file or work dir read.
        train (list[dict]): Training lines, by iteration.
        val (list[dict]): Validation lines, by epoch (``step``).
    """
    source: str
    train: List[dict] = field(default_factory=list)
    val: List[dict] = field(default_factory=list)

    def keys(self) -> List[str]:
        """list[str]: Every key logged, training and validation."""
        found = []
        for line in self.train + self.val:
            found += [k for k in line if k not in found]
        return [k for k in found if k not in ('epoch', 'iter', 'step')]


def find_json_logs(path: str) -> List[str]:
    """The JSON logs of a work dir (every run, oldest first), or the file.

    Args:
        path (str): A ``.json`` log or a work dir.

    Returns:
        list[str]: JSON log files.
    """
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such log file or work dir')
    found = sorted(
        p for p in glob.glob(osp.join(path, '*', 'vis_data', '*.json'))
        if osp.basename(p) != 'scalars.json')
    if not found:
        raise FileNotFoundError(
            f'{path}: no JSON log (<timestamp>/vis_data/<timestamp>.json); '
            'is it a work dir of tools/train.py?')
    return found


def load_train_log(path: str) -> TrainLog:
    """Read the training and validation lines of a log or a work dir.

    Args:
        path (str): A JSON log, or a work dir (all its runs, in order; a
            line of a later run replaces one of the same step).

    Returns:
        TrainLog: The lines.
    """
    train: Dict[int, dict] = {}
    val: Dict[int, dict] = {}
    for file in find_json_logs(path):
        with open(file, encoding='utf-8') as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    line = json.loads(text)
                except json.JSONDecodeError as err:
                    raise ValueError(f'{file}:{number}: not a JSON line '
                                     f'({err.msg})') from None
                if not isinstance(line, dict):
                    continue
                if 'iter' in line and 'epoch' in line:
                    train[int(line['iter'])] = line
                elif 'step' in line:
                    val[int(line['step'])] = line
    if not train and not val:
        raise ValueError(f'{path}: the log holds no training or validation '
                         'lines')
    return TrainLog(path, [train[k] for k in sorted(train)],
                    [val[k] for k in sorted(val)])


def _series(log: TrainLog, key: str):
    """(x iterations, y values) of one key; validation at its epoch's end."""
    xs, ys = [], []
    for line in log.train:
        if key in line:
            xs.append(line['iter'])
            ys.append(line[key])
    if xs:
        return xs, ys, 'train'
    epoch_end: Dict[int, int] = {}
    for line in log.train:
        epoch_end[line['epoch']] = max(
            epoch_end.get(line['epoch'], 0), line['iter'])
    for line in log.val:
        if key in line:
            xs.append(epoch_end.get(line['step'], line['step']))
            ys.append(line[key])
    if not xs:
        raise KeyError(f'{log.source}: no {key!r} in the log; it has '
                       f'{log.keys()}')
    return xs, ys, 'val'


def plot_curves(logs: Sequence[TrainLog],
                keys: Sequence[str] = ('loss', ),
                legend: Optional[Sequence[str]] = None,
                title: Optional[str] = None):
    """One panel per key over training iterations, one line per run.

    Validation metrics are drawn at the last iteration of their epoch.

    Args:
        logs (Sequence[TrainLog]): The runs.
        keys (Sequence[str]): Logged keys, e.g. ``'loss'``, ``'lr'``,
            ``'acc/top1'``, ``'top1_acc'``. Defaults to ``('loss',)``.
        legend (Sequence[str], optional): Names of the runs. Defaults to
            their paths.
        title (str, optional): Figure title. Defaults to None.

    Returns:
        matplotlib.figure.Figure: The figure (no pyplot state).
    """
    from matplotlib.figure import Figure
    if not logs or not keys:
        raise ValueError('plot_curves needs at least one log and one key')
    legend = list(legend) if legend else [log.source for log in logs]
    if len(legend) != len(logs):
        raise ValueError(f'{len(legend)} legend names for {len(logs)} logs')
    fig = Figure(figsize=(6.4, 2.6 * len(keys) + 0.6), layout='constrained')
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys):
        for log, name in zip(logs, legend):
            xs, ys, kind = _series(log, key)
            ax.plot(xs, ys, marker='o' if kind == 'val' else None,
                    markersize=3, label=name)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if key.endswith('lr'):
            ax.set_yscale('log')
        ax.legend(fontsize='small')
    axes[-1].set_xlabel('iteration')
    if title:
        fig.suptitle(title)
    return fig


def train_time_stats(log: TrainLog,
                     include_outliers: bool = False) -> Dict[str, float]:
    """Time per iteration, as mmaction2's ``cal_train_time``.

    Uses the ``time`` of the logged lines (mmengine's mean over its
    window). The first logged line of each epoch holds start-up and data
    loader warm-up, so it is left out unless ``include_outliers``.

    Args:
        log (TrainLog): A run.
        include_outliers (bool): Keep the first line of each epoch.
            Defaults to False.

    Returns:
        dict[str, float]: ``mean_iter_s``, ``slowest_epoch``,
        ``slowest_epoch_s``, ``fastest_epoch``, ``fastest_epoch_s``,
        ``std_epoch_s`` (of the per-epoch means) and ``epochs``.
    """
    by_epoch: Dict[int, List[float]] = {}
    for line in log.train:
        if 'time' in line:
            by_epoch.setdefault(int(line['epoch']), []).append(line['time'])
    if not include_outliers:
        by_epoch = {e: t[1:] or t for e, t in by_epoch.items()}
    if not by_epoch:
        raise ValueError(f'{log.source}: no training line with a time')
    means = {e: sum(t) / len(t) for e, t in by_epoch.items()}
    slowest = max(means, key=means.get)
    fastest = min(means, key=means.get)
    average = sum(means.values()) / len(means)
    std = math.sqrt(
        sum((m - average)**2 for m in means.values()) / len(means))
    every = [t for times in by_epoch.values() for t in times]
    return dict(
        mean_iter_s=sum(every) / len(every),
        slowest_epoch=slowest,
        slowest_epoch_s=means[slowest],
        fastest_epoch=fastest,
        fastest_epoch_s=means[fastest],
        std_epoch_s=std,
        epochs=len(means))
