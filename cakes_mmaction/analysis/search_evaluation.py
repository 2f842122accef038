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

This module plans the run and owns its settings. The child-process jobs
and their pool are in :mod:`.search_eval_jobs`; the metrics, verdicts and
table in :mod:`.search_eval_report`.
"""
import copy
import os
import os.path as osp
import re
import statistics
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Optional, Sequence

from .search_eval_jobs import (read_json, run_parallel, search_job, train_job,
                               write_json)
# The report's names stay importable from here, where tools and users
# found them before the split.
from .search_eval_report import (BEGIN, END, format_table, pair_metrics,
                                 replace_marked_section, summarize, verdicts)

__all__ = [
    'SearchEvalSettings', 'run_search_eval', 'pair_metrics', 'summarize',
    'format_table', 'verdicts', 'data_options', 'matched_budget',
    'replace_marked_section', 'BEGIN', 'END', 'NETWORKS'
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
        score (str): Candidate importance of the export, ``'gamma'``,
            ``'contribution'`` or ``'taylor'`` (on the search config's
            validation split). Defaults to ``'gamma'``.
        extra_networks (dict[str, str]): Hand-picked networks trained and
            tested beside :data:`NETWORKS`, ``{name: assignment file}``
            (e.g. a split to compare the search with). They get no
            verdict. Defaults to empty.
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
    extra_networks: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [n for n in self.networks if n not in NETWORKS]
        if unknown:
            raise ValueError(f'unknown networks {unknown}; known: '
                             f'{list(NETWORKS)}')
        for name, path in self.extra_networks.items():
            # The name becomes a folder and a word of a job's key.
            if name in NETWORKS or not re.fullmatch(r'[A-Za-z0-9_.-]+',
                                                    name):
                raise ValueError(
                    f'extra network {name!r}: a name needs letters, '
                    f'digits, "_", "." or "-" and must not be one of '
                    f'{list(NETWORKS)}')
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'extra network {name}: assignment file {path} not '
                    f'found')
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
    # Time with the threads of a training process, not with whatever this
    # process was left with (torch's default is every core), so that runs
    # of the tool time their networks alike.
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        with torch.no_grad():
            fns = {
                n: (lambda m=m: m(clip, mode='tensor'))
                for n, m in models.items()
            }
            times = interleaved_times(
                fns,
                torch.device('cpu'),
                warmup=2,
                repeats=settings.time_repeats)
    finally:
        torch.set_num_threads(threads)
    for name, t in times.items():
        costs[name]['seconds_per_clip'] = statistics.median(t) / shape[0]
    costs['_timing'] = dict(
        threads=settings.threads,
        repeats=settings.time_repeats,
        note='median forward time of the whole network at batch '
        f'{shape[0]}, eval mode, on this machine, networks timed '
        'round-robin')
    return costs


def _check_extra(settings: SearchEvalSettings, name: str,
                 path: str) -> None:
    """Fail before any training when a hand-picked assignment does not
    fit the trained network (the error names the file and the layer)."""
    import torch
    from mmaction.registry import MODELS
    with torch.device('meta'):
        try:
            MODELS.build(_train_cfg(settings, path).model)
        except Exception as error:
            raise ValueError(f'extra network {name}: {error}') from error


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
            searches[scheme] = read_json(done)
            log(f'search {scheme}: done before ({done})')
        else:
            jobs.append((f'search {scheme}', search_job,
                         (settings.search_configs[scheme], folder,
                          settings.search_seed, search_opts,
                          settings.threads)))
    for name, result in run_parallel(jobs, settings.workers, log).items():
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
    compared = list(settings.networks) + list(settings.extra_networks)
    for name, path in settings.extra_networks.items():
        _check_extra(settings, name, path)
        assignments[name] = path
    assignments = OrderedDict((n, assignments[n]) for n in compared)

    # 3. trainings
    train_opts = dict(settings.cfg_options, **settings.train_cfg_options)
    runs = OrderedDict((n, OrderedDict()) for n in compared)
    jobs = []
    for seed in settings.seeds:
        for name, assignment in assignments.items():
            folder = osp.join(w, f'train_{name}_seed{seed}')
            done = osp.join(folder, 'result.json')
            if osp.isfile(done):
                runs[name][seed] = read_json(done)
                continue
            options = dict(train_opts)
            options['model.backbone.assignment'] = assignment
            jobs.append((f'train {name} {seed}', train_job,
                         (settings.train_config, folder, seed, options,
                          settings.threads, settings.pairs)))
    log(f'{len(jobs)} trainings to run, {settings.workers} at a time')
    for key, result in run_parallel(jobs, settings.workers, log).items():
        _, name, seed = key.split()
        runs[name][int(seed)] = result

    # 4. costs
    costs_file = osp.join(w, 'costs.json')
    if osp.isfile(costs_file) and set(
            read_json(costs_file)) >= set(assignments):
        costs = read_json(costs_file)
    else:
        costs = _network_costs(settings, assignments)
        write_json(costs_file, costs)

    # 5. summary
    summary = OrderedDict()
    for name in compared:
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
    write_json(osp.join(w, 'search_eval.json'), result)
    with open(osp.join(w, 'search_eval.md'), 'w') as f:
        f.write(format_table(result))
    return result


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
