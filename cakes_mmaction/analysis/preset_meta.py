"""Cost metadata of the shipped presets, computed, never typed in.

Each ``cakes_mmaction/presets/*.json`` carries in its ``meta`` the
parameters and FLOPs of the paper's network with that assignment (the
ResNet-50 of ``configs/_base_/models/cakes_r50.py`` plus its I3D head with
174 classes, Something-Something V1) for one 8-frame 224x224 clip, and
those of the all-3x3x3 network of the same skeleton.
``tools/misc/update_preset_meta.py`` writes them; a test recomputes them.
"""
import os
from collections import OrderedDict
from importlib import resources
from typing import Any, Dict, Iterable, List, Optional, Sequence

from ..assignment import PRESETS, Assignment
from .complexity import config_complexity

__all__ = [
    'PRESET_INPUT_SHAPE', 'PRESET_NUM_CLASSES', 'COST_KEYS',
    'preset_cost_meta', 'preset_path', 'update_preset_files'
]

#: Input the stored figures are for: one clip of 8 frames at 224x224.
PRESET_INPUT_SHAPE = (1, 3, 8, 224, 224)
#: Classes of the head the figures include (Something-Something V1).
PRESET_NUM_CLASSES = 174
#: The ``meta`` keys this module owns.
COST_KEYS = ('config', 'input_shape', 'params', 'flops', 'cakes_layers',
             'reference', 'cost_note')


def preset_path(name: str) -> str:
    """File of one shipped preset.

    Args:
        name (str): Preset name.

    Returns:
        str: Path of its JSON file in the package.
    """
    return str(resources.files('cakes_mmaction.presets').joinpath(
        PRESETS[name]))


def preset_cost_meta(name: str,
                     config: str,
                     input_shape: Sequence[int] = PRESET_INPUT_SHAPE,
                     num_classes: int = PRESET_NUM_CLASSES
                     ) -> Dict[str, Any]:
    """Cost metadata of one preset, measured by the complexity report.

    Args:
        name (str): Preset name.
        config (str): The model config whose backbone takes the preset
            (the paper's ``configs/_base_/models/cakes_r50.py``).
        input_shape (Sequence[int]): ``(N, C, T, H, W)``. Defaults to
            :data:`PRESET_INPUT_SHAPE`.
        num_classes (int): Classes of the head. Defaults to
            :data:`PRESET_NUM_CLASSES`.

    Returns:
        dict: The :data:`COST_KEYS` entries of the preset's ``meta``.
    """
    report = config_complexity(
        config, input_shape, {
            'model.backbone.assignment': name,
            'model.backbone.pretrained': None,
            'model.cls_head.num_classes': num_classes
        })
    # Name the config from ``configs/`` on, so the text does not depend on
    # where the repository is checked out.
    shown = config.replace(os.sep, '/')
    if '/configs/' in shown:
        shown = 'configs/' + shown.split('/configs/', 1)[1]
    return OrderedDict(
        config=f'{shown} (model.cls_head.num_classes={num_classes})',
        input_shape=list(report.input_shape),
        params=report.params,
        flops=report.flops,
        cakes_layers=OrderedDict(
            params=report.cakes_params, flops=report.cakes_flops),
        reference=OrderedDict(
            network='the same skeleton with every CAKES layer 3x3x3',
            params=report.ref_params,
            flops=report.ref_flops),
        cost_note=(
            'Whole network: CAKES ResNet-50 backbone + I3D head with '
            f'{num_classes} classes, one clip of shape input_shape '
            '(N, C, T, H, W). FLOPs are multiply-adds counted by '
            'mmengine.analysis (max-pool, 3D average-pool and residual '
            'adds are not counted). Written by '
            'tools/misc/update_preset_meta.py.'))


def update_preset_files(config: str,
                        names: Optional[Iterable[str]] = None,
                        input_shape: Sequence[int] = PRESET_INPUT_SHAPE,
                        num_classes: int = PRESET_NUM_CLASSES,
                        write: bool = True) -> List[str]:
    """Recompute the cost metadata of presets and store it.

    Args:
        config (str): Model config, see :func:`preset_cost_meta`.
        names (Iterable[str], optional): Presets. Defaults to all.
        input_shape (Sequence[int]): Defaults to :data:`PRESET_INPUT_SHAPE`.
        num_classes (int): Defaults to :data:`PRESET_NUM_CLASSES`.
        write (bool): Write the files; with False only report which files
            are out of date. Defaults to True.

    Returns:
        list[str]: Presets whose stored metadata differed.
    """
    changed = []
    for name in sorted(names or PRESETS):
        if name not in PRESETS:
            raise KeyError(f'unknown preset {name!r}; known: '
                           f'{sorted(PRESETS)}')
        preset = Assignment.preset(name)
        meta = OrderedDict(
            (k, v) for k, v in preset.meta.items() if k not in COST_KEYS)
        meta.update(
            preset_cost_meta(name, config, input_shape, num_classes))
        updated = Assignment(preset.to_layers(), meta, preset.source)
        path = preset_path(name)
        with open(path, encoding='utf-8') as f:
            current = f.read()
        if current != updated.dumps():
            changed.append(name)
            if write:
                updated.save(path)
    return changed
