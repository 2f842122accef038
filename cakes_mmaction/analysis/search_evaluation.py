"""Does the search pay? Search, export at a matched cost, retrain, compare.

:func:`run_search_eval` does, for one skeleton and one dataset:

1. the C and the P search (``tools/train.py`` of the search configs);
2. the export of each at a matched cost (:func:`matched_budget`: a FLOP
   budget on the CAKES layers, the uniform split's, capped at 0.75 of the
   all-3x3x3 network; ``match=True``: spent up to the budget);
3. the training and test of the searched networks, the uniform split,
   all-3x3x3 and all-1x3x3 with the same recipe over several seeds, in
   parallel processes;
4. the cost of each network (MACs of the whole network and of the CAKES
   layers, :mod:`cakes_mmaction.analysis.complexity`) and its measured
   forward time per clip on this machine;
5. a table (Markdown) and a JSON file of per-seed and mean +- sd top-1,
   and for datasets of time-reversed class pairs (class ``2k`` and
   ``2k + 1``) the pair accuracy and the direction accuracy given the
   right pair.

Every step writes its result file before the next starts and is skipped
when that file exists, so an interrupted run resumes where it stopped;
an interrupted training resumes from its last checkpoint.
"""
import copy
import json
import math
import os
import os.path as osp
import statistics
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .confusion import load_predictions

__all__ = [
    'SearchEvalSettings', 'run_search_eval', 'pair_metrics', 'summarize',
    'format_table', 'verdicts', 'data_options', 'matched_budget',
    'replace_marked_section',
    'NETWORKS'
]

#: The compared networks: name -> assignment option (None: searched file).
NETWORKS: 'OrderedDict[str, Optional[Any]]' = OrderedDict([
    ('searched_c', None),
    ('searched_p', None),
    ('uniform', dict(uniform=['3x3x3', '1x3x3', '3x1x1'])),
    ('all_3x3x3', dict(uniform=['3x3x3'])),
    ('all_1x3x3', dict(uniform=['1x3x3'])),
])


@dataclass
class SearchEvalSettings:
    """What :func:`run_search_eval` runs.

    Args:
        search_configs (dict[str, str]): Search config per scheme,
            ``{'C': ..., 'P': ...}`` (a scheme left out is not searched).
        train_config (str): Config of the trained networks; its
            ``model.backbone.assignment`` is set per network.
        work_dir (str): Where everything goes (the resume state too).
        seeds (Sequence[int]): Training seeds. Defaults to ``(0, 1, 2)``.
        cfg_options (dict): Options for every run (the dataset).
            Defaults to empty.
        search_cfg_options (dict): Extra options of the searches.
            Defaults to empty.
        train_cfg_options (dict): Extra options of the trainings.
            Defaults to empty.
        search_seed (int): Seed of the searches. Defaults to 0.
        input_shape (Sequence[int]): ``(1, C, T, H, W)`` of one test clip,
            for MACs and timing. Defaults to ``(1, 3, 8, 32, 32)``.
        budget (str): FLOP budget of the export (CAKES layers):
            ``'matched'`` (:func:`matched_budget`: the uniform split's cost,
            capped so that the network costs at most 0.75 of all-3x3x3) or
            anything :func:`~cakes_mmaction.search.parse_budget` reads.
            Defaults to ``'matched'``.
        align (int): Counts in multiples of ``align``. Defaults to 1.
        cost_table (str, optional): Measured cost table given to the
            export (adds the modelled latency). Defaults to None.
        networks (Sequence[str]): Which of :data:`NETWORKS` to train.
            Defaults to all.
        workers (int): Parallel processes. Defaults to 2.
        threads (int): Torch threads per process. Defaults to 1.
        pairs (bool): Classes come in time-reversed pairs; report pair
            and direction accuracy. Defaults to True.
        time_repeats (int): Timed forwards per network. Defaults to 20.
        score (str): Candidate importance of the export, ``'gamma'`` or
            ``'contribution'``. Defaults to ``'gamma'``.
    """

    search_configs: Dict[str, str]
    train_config: str
    work_dir: str
    seeds: Sequence[int] = (0, 1, 2)
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    search_cfg_options: Dict[str, Any] = field(default_factory=dict)
    train_cfg_options: Dict[str, Any] = field(default_factory=dict)
    search_seed: int = 0
    input_shape: Sequence[int] = (1, 3, 8, 32, 32)
    budget: str = 'matched'
    align: int = 1
    cost_table: Optional[str] = None
    networks: Sequence[str] = tuple(NETWORKS)
    workers: int = 2
    threads: int = 1
    pairs: bool = True
    time_repeats: int = 20
    score: str = 'gamma'

    def __post_init__(self) -> None:
        unknown = [n for n in self.networks if n not in NETWORKS]
        if unknown:
            raise ValueError(f'unknown networks {unknown}; known: '
                             f'{list(NETWORKS)}')
        for name in self.networks:
            scheme = name[-1].upper() if name.startswith('searched_') \
                else None
            if scheme and scheme not in self.search_configs:
                raise ValueError(f'{name} needs a {scheme} search config')
        bad = sorted(set(self.search_configs) - {'C', 'P'})
        if bad:
            raise ValueError(f"search_configs keys must be 'C' and/or "
                             f"'P', got {bad}")
        if not self.seeds:
            raise ValueError('give at least one seed')


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------
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


def _dump_predictions(path: str) -> Tuple[List[int], List[int]]:
    """Predicted and true classes from a ``tools/test.py --dump`` file."""
    # The confusion tool's reader: no code from the file ever runs.
    labels, preds, _ = load_predictions(path)
    return [int(p) for p in preds], [int(t) for t in labels]


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


# --------------------------------------------------------------------------
# Jobs (run in child processes; each writes its own result file)
# --------------------------------------------------------------------------
def _write_json(path: str, data: Any) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1)
        f.write('\n')
    os.replace(tmp, path)


def _read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def _resume(work_dir: str) -> Optional[str]:
    """``'auto'`` when the work dir holds a checkpoint to resume from."""
    return 'auto' if osp.isfile(osp.join(work_dir, 'last_checkpoint')) \
        else None


def _search_job(config: str, work_dir: str, seed: int,
                options: Dict[str, Any], threads: int) -> Dict[str, Any]:
    import torch

    import cakes_mmaction  # noqa: F401  (registers everything)
    from cakes_mmaction.harness.apis.train import build_train_cfg, train
    torch.set_num_threads(threads)
    start = time.time()
    cfg = build_train_cfg(
        config,
        work_dir=work_dir,
        resume=_resume(work_dir),
        seed=seed,
        cfg_options=dict(options, log_level='WARNING'))
    train(cfg)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    result = dict(checkpoint=checkpoint, seconds=time.time() - start)
    _write_json(osp.join(work_dir, 'result.json'), result)
    return result


def _train_job(config: str, work_dir: str, seed: int,
               options: Dict[str, Any], threads: int,
               pairs: bool) -> Dict[str, Any]:
    import torch

    import cakes_mmaction  # noqa: F401
    from cakes_mmaction.harness.apis.train import (build_test_cfg,
                                                   build_train_cfg, test,
                                                   train)
    torch.set_num_threads(threads)
    start = time.time()
    options = dict(options, log_level='WARNING')
    cfg = build_train_cfg(
        config,
        work_dir=work_dir,
        resume=_resume(work_dir),
        seed=seed,
        no_validate=True,
        cfg_options=options)
    train(cfg)
    trained = time.time()
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    dump = osp.join(work_dir, 'predictions.pkl')
    test(
        build_test_cfg(
            config,
            checkpoint,
            work_dir=work_dir,
            dump=dump,
            cfg_options=options))
    preds, labels = _dump_predictions(dump)
    metrics = pair_metrics(preds, labels) if pairs else dict(
        top1=sum(p == t for p, t in zip(preds, labels)) / len(labels))
    result = dict(
        seed=seed,
        checkpoint=checkpoint,
        test_videos=len(labels),
        train_seconds=trained - start,
        test_seconds=time.time() - trained,
        **metrics)
    _write_json(osp.join(work_dir, 'result.json'), result)
    return result


def _guarded(fn: Callable, *args) -> Tuple[str, Any]:
    """Run a job; return its result or the error text (never raise)."""
    try:
        return 'ok', fn(*args)
    except BaseException as err:  # a failed job must not hang the pool
        return 'error', f'{err!r}\n{traceback.format_exc()}'


def _run_parallel(jobs: Sequence[Tuple[str, Callable, tuple]],
                  workers: int,
                  log: Callable[[str], None]) -> Dict[str, Any]:
    """Run ``(name, fn, args)`` jobs in spawned processes."""
    results = OrderedDict()
    if not jobs:
        return results
    with ProcessPoolExecutor(
            max_workers=max(1, min(workers, len(jobs))),
            mp_context=get_context('spawn')) as pool:
        futures = [(name, pool.submit(_guarded, fn, *args))
                   for name, fn, args in jobs]
        for name, future in futures:
            status, value = future.result()
            if status != 'ok':
                raise RuntimeError(f'{name} failed:\n{value}')
            log(f'done: {name}')
            results[name] = value
    return results


# --------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------
def _train_cfg(settings: SearchEvalSettings, assignment: Any):
    from mmengine.config import Config
    cfg = Config.fromfile(settings.train_config)
    cfg.merge_from_dict(dict(settings.cfg_options))
    cfg.merge_from_dict(dict(settings.train_cfg_options))
    cfg.model.backbone.assignment = assignment
    return cfg


def _network_costs(settings: SearchEvalSettings,
                   assignments: Dict[str, Any]) -> Dict[str, Any]:
    """MACs and measured forward time per clip of every network."""
    import torch
    from mmaction.registry import MODELS

    from .complexity import complexity_report
    from .timing import interleaved_times
    shape = tuple(int(v) for v in settings.input_shape)
    models, costs = OrderedDict(), OrderedDict()
    for name, assignment in assignments.items():
        model = MODELS.build(_train_cfg(settings, assignment).model).eval()
        report = complexity_report(model, shape)
        totals = model.backbone.assignment.totals()
        costs[name] = OrderedDict(
            counts={s: int(n)
                    for s, n in totals.items()},
            macs=report.flops,
            params=report.params,
            cakes_macs=report.cakes_flops,
            cakes_params=report.cakes_params,
            ref_macs=report.ref_flops,
            ref_cakes_macs=sum(r['ref_flops'] for r in report.layers))
        models[name] = model
    clip = torch.zeros((shape[0], 1) + shape[1:])
    with torch.no_grad():
        fns = {
            n: (lambda m=m: m(clip, mode='tensor'))
            for n, m in models.items()
        }
        times = interleaved_times(fns, torch.device('cpu'), warmup=2,
                                  repeats=settings.time_repeats)
    for name, t in times.items():
        costs[name]['seconds_per_clip'] = statistics.median(t) / shape[0]
    costs['_timing'] = dict(
        threads=torch.get_num_threads(),
        repeats=settings.time_repeats,
        note='median forward time of the whole network at batch '
        f'{shape[0]}, eval mode, on this machine, networks timed '
        'round-robin')
    return costs


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------
def matched_budget(settings: SearchEvalSettings) -> Dict[str, int]:
    """The CAKES-layer MAC budget at which both targets can be judged.

    The searched network must cost the uniform split's MACs (+-5%) and at
    most 0.75 of the all-3x3x3 network's. Searched and uniform networks
    share everything outside the CAKES layers, so the budget is the
    smaller of the uniform split's CAKES-layer MACs and ``0.75 x all-3x3x3
    - the rest of the network``.

    Args:
        settings (SearchEvalSettings): The run.

    Returns:
        dict[str, int]: ``budget`` and what it came from: ``uniform``
        (CAKES layers), ``rest`` (the other layers) and ``all_3x3x3`` (the
        whole all-3x3x3 network), all MACs per clip.
    """
    from mmaction.registry import MODELS

    from .complexity import complexity_report
    model = MODELS.build(
        _train_cfg(settings, copy.deepcopy(NETWORKS['uniform'])).model)
    report = complexity_report(model, settings.input_shape)
    rest = report.flops - report.cakes_flops
    return dict(
        budget=int(min(report.cakes_flops, 0.75 * report.ref_flops - rest)),
        uniform=report.cakes_flops,
        rest=rest,
        all_3x3x3=report.ref_flops)


def run_search_eval(settings: SearchEvalSettings,
                    log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Search, export at a matched budget, retrain, test, compare.

    Args:
        settings (SearchEvalSettings): What to run.
        log (Callable[[str], None]): Progress lines. Defaults to print.

    Returns:
        dict: The summary also written to ``<work_dir>/search_eval.json``:
        ``settings``, ``searches``, ``exports``, ``costs``, ``runs``
        (per network, per seed) and ``summary`` (per network, mean/sd).
    """
    from ..search.export import export_assignment
    os.makedirs(settings.work_dir, exist_ok=True)
    w = settings.work_dir

    # 1. searches
    search_opts = dict(settings.cfg_options, **settings.search_cfg_options)
    searches, jobs = OrderedDict(), []
    wanted = [n[-1].upper() for n in settings.networks
              if n.startswith('searched_')]
    for scheme in wanted:
        folder = osp.join(w, f'search_{scheme.lower()}')
        done = osp.join(folder, 'result.json')
        if osp.isfile(done):
            searches[scheme] = _read_json(done)
            log(f'search {scheme}: done before ({done})')
        else:
            jobs.append((f'search {scheme}', _search_job,
                         (settings.search_configs[scheme], folder,
                          settings.search_seed, search_opts,
                          settings.threads)))
    for name, result in _run_parallel(jobs, settings.workers, log).items():
        searches[name.split()[-1]] = result

    # 2. exports at the matched budget
    exports, assignments = OrderedDict(), OrderedDict()
    for scheme in wanted:
        out = osp.join(w, f'searched_{scheme.lower()}.json')
        if not osp.isfile(out):
            config = settings.search_configs[scheme]
            budget = settings.budget
            if budget == 'matched':
                budget = matched_budget(settings)['budget']
            assignment = export_assignment(
                config,
                searches[scheme]['checkpoint'],
                flops_budget=budget,
                match=True,
                score=settings.score,
                align=settings.align,
                cost_table=settings.cost_table,
                input_shape=settings.input_shape,
                cfg_options=search_opts)
            assignment.save(out)
            log(f'export {scheme}: {out}')
        from ..assignment import Assignment
        exported = Assignment.load(out)
        meta = exported.meta
        exports[scheme] = dict(
            file=out, rule=meta.get('rule'), budget=meta.get('budget'),
            flops=meta['flops'], totals=exported.totals())
        assignments[f'searched_{scheme.lower()}'] = out
    for name in settings.networks:
        if not name.startswith('searched_'):
            assignments[name] = copy.deepcopy(NETWORKS[name])
    assignments = OrderedDict(
        (n, assignments[n]) for n in settings.networks)

    # 3. trainings
    train_opts = dict(settings.cfg_options, **settings.train_cfg_options)
    runs = OrderedDict((n, OrderedDict()) for n in settings.networks)
    jobs = []
    for seed in settings.seeds:
        for name, assignment in assignments.items():
            folder = osp.join(w, f'train_{name}_seed{seed}')
            done = osp.join(folder, 'result.json')
            if osp.isfile(done):
                runs[name][seed] = _read_json(done)
                continue
            options = dict(train_opts)
            options['model.backbone.assignment'] = assignment
            jobs.append((f'train {name} {seed}', _train_job,
                         (settings.train_config, folder, seed, options,
                          settings.threads, settings.pairs)))
    log(f'{len(jobs)} trainings to run, {settings.workers} at a time')
    for key, result in _run_parallel(jobs, settings.workers, log).items():
        _, name, seed = key.split()
        runs[name][int(seed)] = result

    # 4. costs
    costs_file = osp.join(w, 'costs.json')
    if osp.isfile(costs_file) and set(
            _read_json(costs_file)) >= set(assignments):
        costs = _read_json(costs_file)
    else:
        costs = _network_costs(settings, assignments)
        _write_json(costs_file, costs)

    # 5. summary
    summary = OrderedDict()
    for name in settings.networks:
        per_seed = [runs[name][s] for s in settings.seeds]
        summary[name] = OrderedDict(
            (metric, summarize([100 * r[metric] for r in per_seed]))
            for metric in (('top1', 'pair', 'direction')
                           if settings.pairs else ('top1', )))
    result = OrderedDict(
        settings=asdict(settings),
        searches=searches,
        exports=exports,
        costs=costs,
        runs=OrderedDict((n, OrderedDict((str(s), r) for s, r in v.items()))
                         for n, v in runs.items()),
        summary=summary)
    result['verdicts'] = verdicts(result)
    _write_json(osp.join(w, 'search_eval.json'), result)
    with open(osp.join(w, 'search_eval.md'), 'w') as f:
        f.write(format_table(result))
    return result


def _spread(gap: float, a: Dict[str, float], b: Dict[str, float]) -> str:
    """A warning when a gap is no larger than the seed spread."""
    spread = max(a['sd'], b['sd'])
    if abs(gap) <= spread:
        return (f' (the gap is within the seed spread, sd {spread:.1f}: '
                'not a difference these seeds can show)')
    return ''


def verdicts(result: Dict[str, Any]) -> List[str]:
    """The two targets of a search that pays, checked on a result.

    - searched >= uniform + 3 points top-1 at matched MACs (+-5% of the
      uniform network's MACs);
    - searched >= all-3x3x3 top-1 at <= 0.75 of its MACs.

    A gap no larger than the larger seed standard deviation of the two
    networks is flagged as not shown by these seeds.

    Args:
        result (dict): From :func:`run_search_eval`.

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
                f'sd {top1["sd"]:.1f} / {ref["sd"]:.1f}): '
                f'{"MET" if ok else "MISSED"}{_spread(gap, top1, ref)}')
        if 'all_3x3x3' in summary:
            ref = summary['all_3x3x3']['top1']
            ratio = costs[name]['macs'] / costs['all_3x3x3']['macs']
            gap = top1['mean'] - ref['mean']
            ok = ratio <= 0.75 and gap >= 0
            lines.append(
                f'{name} vs all-3x3x3: {gap:+.1f} points top-1 (target '
                f'>= 0) at {ratio:.3f} x its MACs (target <= 0.75; seed '
                f'sd {top1["sd"]:.1f} / {ref["sd"]:.1f}): '
                f'{"MET" if ok else "MISSED"}{_spread(gap, top1, ref)}')
    return lines


def _si(x: float) -> str:
    for scale, unit in ((1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(x) >= scale:
            return f'{x / scale:.2f}{unit}'
    return f'{x:.0f}'


def format_table(result: Dict[str, Any]) -> str:
    """Markdown table of a :func:`run_search_eval` result.

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


def data_options(config: str, data_dir: str) -> Dict[str, Any]:
    """``--cfg-options`` that point a config at a generated dataset.

    Train on ``train``, validate on ``val`` and test on ``test`` (the
    split neither the search nor the training sees); the head and the
    datasets get the class count of ``classes.txt``.

    Args:
        config (str): A config whose dataloaders read rawframes.
        data_dir (str): Output of ``tools/data/generate_synthetic.py``
            with a test split.

    Returns:
        dict[str, Any]: The options.
    """
    from mmengine.config import Config

    from ..harness.apis.data_options import data_cfg_options
    root = osp.abspath(data_dir)
    class_file = osp.join(root, 'classes.txt')
    lists = {
        s: osp.join(root, f'{s}_list_rawframes.txt')
        for s in ('train', 'val', 'test')
    }
    missing = [p for p in [class_file] + list(lists.values())
               if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f'{data_dir}: not a generated rawframes dataset with a test '
            f'split; missing {missing} (tools/data/generate_synthetic.py '
            f'--test-per-class N --formats rawframes)')
    with open(class_file) as f:
        num_classes = sum(1 for line in f if line.strip())
    options = data_cfg_options(
        Config.fromfile(config), lists, dict(img=osp.join(root,
                                                          'rawframes')),
        class_file, num_classes)
    options['model.cls_head.num_classes'] = num_classes
    return options


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
    import re
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
