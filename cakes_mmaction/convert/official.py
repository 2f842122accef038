"""Import checkpoints of the official CAKES code (github.com/yucornetto/CAKES).

The official code is a TSN-style PyTorch codebase. A released checkpoint is
a dict ``{'state_dict': ..., 'epoch': ..., 'arch': ..., 'best_prec1': ...}``
saved from a ``DataParallel`` model, so every key starts with ``module.``::

    module.base_model.conv1.weight                 stem, 1x7x7
    module.base_model.bn1.*                        stem BatchNorm
    module.base_model.layerS.B.conv1/conv3.weight  1x1x1 convs
    module.base_model.layerS.B.bn1/bn3.*
    module.base_model.layerS.0.downsample.0.weight / downsample.1.*
    module.base_model.layerS.B.convT.convs.I.0.weight   CAKES branch I
    module.base_model.layerS.B.convT.out.0.*       the one CAKES BatchNorm
    module.new_fc.weight / bias                    classifier

The keys are read and mapped by :mod:`.official_layout`. Branch ``I`` of
a CAKES layer is the I-th branch with a non-zero count, in
the order 3x3x3, 1x3x3, 3x1x1 (the canonical order of
:mod:`cakes_mmaction.shapes`). A zero count shifts the later indices, so
branches are placed through the assignment, never by a fixed list position
(a defect of the official code).

The official classifier is applied to every frame and the logits are
averaged over time; mmaction2's ``I3DHead`` averages first and applies the
linear layer once. A linear map commutes with a mean, so both compute the
same function and the weights are copied as they are.
"""
import json
import os
import re
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from ..assignment import Assignment, AssignmentError
from ..checkpoints.safe_load import safe_torch_load
from ..layer_keys import BACKBONE_PREFIX
from .official_layout import (as_3d, infer_assignment, matching_preset,
                              parse_official, place_branches, strip_prefix)
from .report import (PAPER_BACKBONE, ConversionError, ConversionReport,
                     raise_problems)

__all__ = [
    'ConversionError', 'ConversionReport', 'convert_official_state_dict',
    'convert_official_checkpoint', 'infer_assignment', 'matching_preset'
]


def _infer_backbone_cfg(plain, backbone_cfg: Optional[Mapping[str, Any]]
                        ) -> Dict[str, Any]:
    """Depth-50 skeleton, blocks and width read off the checkpoint."""
    cfg = dict(PAPER_BACKBONE)
    blocks: Dict[int, set] = {}
    stem = None
    for key, dst, value in plain:
        match = re.match(r'^backbone\.layer(\d+)\.(\d+)\.', dst)
        if match:
            blocks.setdefault(int(match.group(1)), set()).add(
                int(match.group(2)))
        elif dst == 'backbone.conv1.conv.weight':
            stem = value
    if blocks:
        stages = sorted(blocks)
        if stages != list(range(1, len(stages) + 1)) or any(
                sorted(b) != list(range(len(b))) for b in blocks.values()):
            raise ConversionError(
                f'residual stages/blocks are not numbered 1.. / 0..: '
                f'{ {s: sorted(b) for s, b in blocks.items()} }')
        cfg['stage_blocks'] = tuple(len(blocks[s]) for s in stages)
        cfg['num_stages'] = len(stages)
    if stem is not None:
        cfg['base_channels'] = int(stem.shape[0])
    if cfg.get('num_stages') == 4:
        cfg.pop('num_stages')
    cfg.update(backbone_cfg or {})
    return cfg


def _target_shapes(assignment: Assignment, backbone_cfg: Mapping[str, Any]
                   ) -> Tuple[Dict[str, tuple], int]:
    """Key -> shape, and feature width, of the backbone to load into."""
    from mmaction.registry import MODELS
    with torch.device('meta'):  # shapes only: allocate nothing
        backbone = MODELS.build(
            dict(type='ResNet3dCAKES', assignment=assignment,
                 **backbone_cfg))
    shapes = OrderedDict((BACKBONE_PREFIX + k, tuple(v.shape))
                         for k, v in backbone.state_dict().items())
    return shapes, backbone.feat_dim


def convert_official_state_dict(
        state_dict: Mapping[str, Any],
        assignment: Any = None,
        backbone_cfg: Optional[Mapping[str, Any]] = None
) -> Tuple['OrderedDict[str, torch.Tensor]', ConversionReport]:
    """Convert an official CAKES state dict to our recognizer's keys.

    Args:
        state_dict (Mapping[str, Any]): The official ``state_dict`` (with or
            without the ``module.`` prefix of DataParallel).
        assignment: The network's channel assignment: anything
            :meth:`Assignment.resolve` takes (preset name, file, dict).
            Defaults to None: inferred from the branch tensors.
        backbone_cfg (Mapping, optional): ``ResNet3dCAKES`` arguments of the
            target model. Defaults to None: depth 50 with the stage blocks
            and stem width found in the checkpoint (the paper's network).

    Returns:
        tuple[OrderedDict, ConversionReport]: ``backbone.*`` and
        ``cls_head.fc_cls.*`` tensors in our model's order, and a report.

    Raises:
        ConversionError: A key has no place, a tensor has the wrong shape,
            our model needs a tensor the checkpoint lacks, or the branches
            disagree with the assignment. One message lists every problem.
        AssignmentError: The assignment does not fit the network.
    """
    sd = strip_prefix(state_dict)
    plain, branches, leftover = parse_official(sd)
    raise_problems(leftover, 'tensors of the official checkpoint left over')
    inferred = assignment is None
    assignment = (infer_assignment(branches) if inferred else
                  Assignment.resolve(assignment))
    placed, problems = place_branches(branches, assignment)
    raise_problems(
        problems, "the checkpoint's CAKES branches disagree with the "
        'assignment')
    cfg = _infer_backbone_cfg(plain, backbone_cfg)
    targets, feat_dim = _target_shapes(assignment, cfg)
    fc = dict((dst, v) for _, dst, v in plain if dst.startswith('cls_head'))
    fc_weight = fc.get('cls_head.fc_cls.weight')
    if fc_weight is None or fc_weight.dim() != 2:
        raise ConversionError(
            'new_fc.weight: expected the (num_classes, '
            f'{feat_dim}) classifier weight, found '
            f'{None if fc_weight is None else tuple(fc_weight.shape)}')
    num_classes = int(fc_weight.shape[0])
    targets['cls_head.fc_cls.weight'] = (num_classes, feat_dim)
    targets['cls_head.fc_cls.bias'] = (num_classes, )

    report = ConversionReport(assignment, inferred, cfg, num_classes,
                              feat_dim)
    out: Dict[str, torch.Tensor] = {}
    problems = []
    for src, dst, value in plain + placed:
        if dst not in targets:
            problems.append(f'{src} {tuple(value.shape)}: maps to {dst}, '
                            'which the model built from the assignment lacks')
            continue
        if dst in out:
            problems.append(f'{src}: a second tensor for {dst}')
            continue
        tensor = value
        if dst.endswith('conv.weight') and value.dim() == 4:
            tensor = as_3d(value)
            report.reshaped.append(
                (dst, tuple(value.shape), tuple(tensor.shape)))
        if tuple(tensor.shape) != targets[dst]:
            problems.append(f'{src} {tuple(value.shape)} -> {dst}: expected '
                            f'shape {targets[dst]}')
            continue
        out[dst] = tensor.detach().clone().contiguous()
        report.mapped.append((src, dst, tuple(tensor.shape)))
    for dst, shape in targets.items():
        if dst in out:
            continue
        if dst.endswith('num_batches_tracked'):
            out[dst] = torch.tensor(0, dtype=torch.long)
            report.added.append(dst)
        else:
            problems.append(f'{dst}: expected shape {shape}, no tensor in '
                            'the checkpoint')
    raise_problems(problems, 'official checkpoint does not fit the model')
    report.preset = matching_preset(assignment)
    ordered = OrderedDict((k, out[k]) for k in targets)
    return ordered, report


def _plain_meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return repr(value)[:200]


def convert_official_checkpoint(src: str,
                                dst: str,
                                assignment: Any = None,
                                backbone_cfg: Optional[Mapping[str,
                                                               Any]] = None,
                                assignment_out: Optional[str] = None,
                                config: Optional[Any] = None
                                ) -> ConversionReport:
    """Convert an official CAKES checkpoint file to an mmaction2 checkpoint.

    ``src`` is read with the safe (weights-only) loader, so it cannot run
    code. ``dst`` holds ``{'state_dict', 'meta'}`` and loads with mmengine's
    ``load_checkpoint`` / ``load_from``. The assignment is also written as
    a file (``assignment_out``) so a config can build the matching model.

    Args:
        src (str): The official ``.pth`` / ``.pth.tar``.
        dst (str): Output checkpoint path.
        assignment: See :func:`convert_official_state_dict`.
            Defaults to None (inferred).
        backbone_cfg (Mapping, optional): See
            :func:`convert_official_state_dict`. Defaults to None.
        assignment_out (str, optional): Where to write the assignment.
            Defaults to ``dst`` with ``.assignment.json`` as extension.
        config (str | Config, optional): The config the converted
            checkpoint is for. When given, the converted weights must fit
            its model as trained (architecture, assignment, class count,
            every weight) or nothing is written: one message names the
            source, the config and what differs (e.g. both class counts).
            Defaults to None.

    Returns:
        ConversionReport: What was converted.
    """
    ckpt = safe_torch_load(src, map_location='cpu')
    if not isinstance(ckpt, Mapping):
        raise ConversionError(f'{src}: expected a dict checkpoint, got '
                              f'{type(ckpt).__name__}')
    if 'state_dict' in ckpt:
        state_dict = ckpt['state_dict']
        meta = {k: _plain_meta(v) for k, v in ckpt.items()
                if k != 'state_dict'}
    else:
        state_dict, meta = ckpt, {}
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise ConversionError(f'{src}: no state dict of tensors found')
    try:
        converted, report = convert_official_state_dict(
            state_dict, assignment, backbone_cfg)
    except (ConversionError, AssignmentError) as err:
        raise type(err)(f'{src}: {err}') from None
    report.meta = meta
    if config is not None:
        _check_against_config(converted, config, src)
    if assignment_out is None:
        assignment_out = os.path.splitext(dst)[0] + '.assignment.json'
    report.assignment.with_meta(
        source='official CAKES checkpoint', checkpoint=os.path.basename(src),
        preset=report.preset).save(assignment_out)
    report.assignment_file = assignment_out
    # Plain types only: the result must load under the weights-only
    # unpickler (cakes_mmaction.harness.compat).
    out_meta = dict(
        converted_from=os.path.basename(src),
        converter='cakes_mmaction.convert.official',
        official=meta,
        assignment=json.loads(report.assignment.dumps()),
        preset=report.preset,
        backbone_cfg={k: list(v) if isinstance(v, tuple) else v
                      for k, v in report.backbone_cfg.items()},
        num_classes=report.num_classes)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = f'{dst}.tmp.{os.getpid()}'
    torch.save(dict(state_dict=converted, meta=out_meta), tmp)
    os.replace(tmp, dst)
    return report


def _check_against_config(converted: Mapping[str, Any], config: Any,
                          src: str) -> None:
    """Raise unless converted weights fit the model of ``config``."""
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from ..checkpoints.fit import check_checkpoint_fits
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope') or 'mmaction'):
        model = MODELS.build(cfg.model)
    check_checkpoint_fits(
        model.state_dict(),
        dict(converted),
        f'{src} (converted)',
        strict=True,
        config=cfg.filename,
        same_classes=True)
