"""Check a training config before any data is loaded or any step is taken.

:func:`validate_config` is meant for ``tools/train.py`` (after
``--cfg-options`` are merged, before ``Runner.from_cfg``). It collects every
problem it can find in one :class:`ConfigValidationError`, each naming the
config key or file:

- values of the wrong type or range (classes, batch size, epochs, learning
  rate, timeouts, intervals);
- a model that cannot be built, including a channel assignment whose
  file, layers, shapes or widths do not fit the backbone (the
  :class:`~cakes_mmaction.assignment.AssignmentError` message);
- transforms and dataset types that are not registered, annotation lists
  that are missing or have bad lines or labels outside the head's classes;
- class-name files that are missing or whose name count is not the
  dataset's ``num_classes``, a dataset ``num_classes`` other than the
  head's, a ``ClassNameFlip`` without class names;
- a ``load_from`` checkpoint that is missing, incomplete, unsafe, or for
  another model or another assignment.
"""
import numbers
import os.path as osp
from typing import Any, List, Optional

from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

__all__ = ['ConfigValidationError', 'validate_config']


class ConfigValidationError(ValueError):
    """A config that would fail (or silently misbehave) once training runs.

    Args:
        problems (list[str]): One line per problem.
    """

    def __init__(self, problems: List[str]) -> None:
        self.problems = list(problems)
        super().__init__(f'{len(self.problems)} problem(s) in the config:\n' +
                         '\n'.join(f'  - {p}' for p in self.problems))


def _get(cfg: Any, dotted: str) -> Any:
    node = cfg.to_dict() if isinstance(cfg, Config) else cfg
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


_POSITIVE_INTS = [
    'model.cls_head.num_classes', 'train_dataloader.batch_size',
    'val_dataloader.batch_size', 'test_dataloader.batch_size',
    'train_cfg.max_epochs', 'train_cfg.max_iters', 'train_cfg.val_interval',
    'default_hooks.checkpoint.interval', 'default_hooks.logger.interval'
]
_NON_NEGATIVE_INTS = [
    'train_dataloader.num_workers', 'val_dataloader.num_workers',
    'test_dataloader.num_workers'
]
_POSITIVE_NUMBERS = [
    'optim_wrapper.optimizer.lr', 'env_cfg.dist_cfg.timeout',
    'optim_wrapper.clip_grad.max_norm'
]


def _check_values(cfg: Config, problems: List[str]) -> None:
    for key in _POSITIVE_INTS:
        value = _get(cfg, key)
        if value is not None and (not _is_int(value) or value <= 0):
            problems.append(f'{key} must be a positive int, got {value!r}')
    for key in _NON_NEGATIVE_INTS:
        value = _get(cfg, key)
        if value is not None and (not _is_int(value) or value < 0):
            problems.append(f'{key} must be an int >= 0, got {value!r}')
    for key in _POSITIVE_NUMBERS:
        value = _get(cfg, key)
        if value is not None and (not _is_number(value) or value <= 0):
            problems.append(f'{key} must be a positive number, got '
                            f'{value!r}')
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader') or {}
        if loader.get('num_workers') == 0 and loader.get('persistent_workers'):
            problems.append(f'{split}_dataloader: persistent_workers=True '
                            'needs num_workers > 0')
    if not isinstance(cfg.get('model'),
                      (dict, ConfigDict)) or ('type' not in cfg.model):
        problems.append('model must be a dict with a "type"')


def _build_model(cfg: Config, problems: List[str]) -> Optional[Any]:
    from mmaction.registry import MODELS

    from ...assignment import AssignmentError
    try:
        return MODELS.build(cfg.model)
    except AssignmentError as err:
        assignment = _get(cfg, 'model.backbone.assignment')
        problems.append(f'model.backbone.assignment={assignment!r}: {err}')
    except Exception as err:  # any build failure is reported, not raised
        problems.append(f'model cannot be built: {type(err).__name__}: '
                        f'{str(err).strip().splitlines()[0][:400]}')
    return None


def _check_data(cfg: Config, problems: List[str],
                num_classes: Optional[int]) -> None:
    from mmaction.registry import TRANSFORMS

    from ..dataset_check.checker import _leaf_datasets, dataset_specs
    from ..datasets.class_names import class_file_problems
    from ..datasets.faults import format_problems
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        for ds in _leaf_datasets(dict(loader['dataset'])):
            problems.extend(class_file_problems(split, ds, num_classes))
            for transform in ds.get('pipeline') or []:
                kind = transform.get('type') if isinstance(
                    transform, (dict, ConfigDict)) else None
                if isinstance(kind, str) and TRANSFORMS.get(kind) is None:
                    problems.append(f'{split}_dataloader: transform {kind!r} '
                                    'is not registered')
    try:
        specs = dataset_specs(cfg)
    except Exception as err:
        problems.append(f'a dataset cannot be built: {type(err).__name__}: '
                        f'{str(err).strip().splitlines()[0][:400]}')
        return
    for spec in specs:
        _, found = spec.parse_list(num_classes)
        if found:
            problems.append(
                f'{spec.split}_dataloader: {len(found)} bad line(s) in '
                f'{spec.ann_file}:\n' + format_problems(found, limit=5))


def _check_checkpoint(cfg: Config,
                      model: Optional[Any],
                      problems: List[str],
                      as_trained: bool = False) -> None:
    from mmengine.runner.checkpoint import load_state_dict

    from ...checkpoints.fit import check_checkpoint_fits, checkpoint_state_dict
    from ...checkpoints.safe_load import safe_torch_load
    from .checkpoint_io import verify_checkpoint_file
    path = cfg.get('load_from')
    if not path or '://' in str(path):
        return
    key = 'resume' if cfg.get('resume') else 'load_from'
    if as_trained:
        key = 'checkpoint'
    if not osp.isfile(path):
        problems.append(f'{key}: {path} not found')
        return
    reason = verify_checkpoint_file(path)
    if reason:
        problems.append(f'{key}: {path}: {reason}')
        return
    try:
        checkpoint = safe_torch_load(path, map_location='cpu')
    except Exception as err:
        problems.append(f'{key}: {err}')
        return
    if model is None:
        return
    try:
        check_checkpoint_fits(
            model.state_dict(),
            checkpoint,
            path,
            strict=key != 'load_from',
            config=cfg.filename,
            same_classes=as_trained)
        # mmengine's loader (as the Runner uses): size mismatches are
        # skipped, CAKES layers check their channel assignment.
        load_state_dict(
            model, dict(checkpoint_state_dict(checkpoint)), logger='silent')
    except Exception as err:
        problems.append(f'{key}: {err}' if path in
                        str(err) else f'{key}: {path}: {err}')


def validate_config(cfg: Config,
                    build_model: bool = True,
                    check_data: bool = True,
                    check_checkpoint: bool = True,
                    as_trained: bool = False) -> None:
    """Reject a config that would fail once training started.

    Args:
        cfg (Config): The merged config.
        build_model (bool): Build the model (on CPU, no weights loaded).
            Defaults to True.
        check_data (bool): Check transforms and annotation lists (not the
            media; see ``tools/data/check_dataset.py``). Defaults to True.
        check_checkpoint (bool): Check ``load_from``. Defaults to True.
        as_trained (bool): ``load_from`` is used as trained (testing):
            every weight, the same class count. Defaults to False
            (training: fine-tuning a new classifier is fine).

    Raises:
        ConfigValidationError: With one line per problem.
    """
    problems: List[str] = []
    _check_values(cfg, problems)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope') or 'mmaction'):
        model = None
        # A wrong model value (say num_classes='400') would only make the
        # build fail again; any other problem does not stop the model (and
        # its assignment) from being checked too: every problem, one error.
        if build_model and not any(p.startswith('model') for p in problems):
            model = _build_model(cfg, problems)
        if check_data:
            num_classes = _get(cfg, 'model.cls_head.num_classes')
            _check_data(cfg, problems,
                        num_classes if _is_int(num_classes) else None)
        if check_checkpoint:
            _check_checkpoint(cfg, model, problems, as_trained)
    if problems:
        raise ConfigValidationError(problems)
