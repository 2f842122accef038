"""What a conversion of an official CAKES checkpoint did, or why it failed."""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..assignment import Assignment

__all__ = [
    'ConversionError', 'ConversionReport', 'PAPER_BACKBONE', 'raise_problems'
]

_MAX_LINES = 25
#: The paper's network; configs/_base_ builds it.
PAPER_BACKBONE = dict(depth=50, stage_blocks=(3, 4, 6, 3), base_channels=64)


class ConversionError(ValueError):
    """An official checkpoint that cannot be converted, with every reason."""


@dataclass
class ConversionReport:
    """What :func:`convert_official_state_dict` did.

    Args:
        assignment (Assignment): The channel assignment of the result.
        assignment_inferred (bool): Whether it was read off the branch
            tensors rather than given.
        backbone_cfg (dict): ``ResNet3dCAKES`` arguments (besides the
            assignment) of the model the result loads into.
        num_classes (int): Classes of the classifier.
        feat_dim (int): Input width of the classifier. Defaults to 2048.
        mapped (list): ``(official key, our key, shape)`` per tensor.
        reshaped (list): ``(our key, official shape, our shape)`` of 2D conv
            weights given a temporal axis of 1.
        added (list[str]): Our keys the checkpoint lacked and that were
            filled with their defaults (``num_batches_tracked``).
        meta (dict): Non-tensor entries of the official file (``epoch``,
            ``arch``, ``best_prec1``).
        preset (str, optional): The shipped preset equal to the assignment.
        assignment_file (str, optional): Where the assignment was written.
    """

    assignment: Assignment
    assignment_inferred: bool
    backbone_cfg: Dict[str, Any]
    num_classes: int
    feat_dim: int = 2048
    mapped: List[Tuple[str, str, Tuple[int, ...]]] = field(
        default_factory=list)
    reshaped: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(
        default_factory=list)
    added: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)
    preset: Optional[str] = None
    assignment_file: Optional[str] = None

    def cfg_options(self) -> List[str]:
        """``--cfg-options`` that make a config build this model."""
        spec = self.preset or self.assignment_file or '<assignment file>'
        opts = [f'model.backbone.assignment={spec}',
                f'model.cls_head.num_classes={self.num_classes}']
        if self.feat_dim != 2048:
            opts.append(f'model.cls_head.in_channels={self.feat_dim}')
        for key, value in self.backbone_cfg.items():
            if (key, value) not in PAPER_BACKBONE.items():
                text = str(tuple(value)).replace(' ', '') if isinstance(
                    value, (list, tuple)) else value
                opts.append(f'model.backbone.{key}={text}')
        return opts

    def summary(self, verbose: bool = False) -> str:
        """Human-readable report.

        Args:
            verbose (bool): List every mapped tensor. Defaults to False.

        Returns:
            str: The report.
        """
        how = ('inferred from the branch tensors (kernel shape and output '
               'channels)' if self.assignment_inferred else
               f'given ({self.assignment.source})')
        lines = [
            f'mapped {len(self.mapped)} tensors '
            f'({sum(_numel(s) for _, _, s in self.mapped):,} values)',
            f'assignment: {how}; ' + (
                f'equal to preset {self.preset!r}' if self.preset else
                'matches no shipped preset'),
            f'backbone: ResNet3dCAKES {self.backbone_cfg}',
            f'classifier: {self.num_classes} classes',
        ]
        if self.reshaped:
            lines.append(
                f'{len(self.reshaped)} 2D conv weights got a temporal axis '
                f'of 1: ' + ', '.join(k for k, _, _ in self.reshaped))
        if self.added:
            lines.append(f'{len(self.added)} BatchNorm counters absent from '
                         f'the checkpoint set to 0 (num_batches_tracked)')
        if self.meta:
            lines.append(f'official metadata: {self.meta}')
        if self.assignment_file:
            lines.append(f'assignment written to {self.assignment_file}')
        lines.append('build the model with --cfg-options ' +
                     ' '.join(self.cfg_options()))
        if verbose:
            lines += [f'  {src} -> {dst} {tuple(shape)}'
                      for src, dst, shape in self.mapped]
        return '\n'.join(lines)


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def raise_problems(problems: List[str], what: str) -> None:
    """Raise one :class:`ConversionError` listing every problem, if any.

    Args:
        problems (list[str]): One line per problem (key, expected, found).
        what (str): What the problems are about.
    """
    if not problems:
        return
    shown = problems[:_MAX_LINES]
    more = len(problems) - len(shown)
    tail = f'\n  ... and {more} more' if more > 0 else ''
    raise ConversionError(f'{what}:\n  ' + '\n  '.join(shown) + tail)
