"""The search supernet backbone and recognizer."""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmaction.models.backbones.resnet3d import Bottleneck3d
from mmaction.models.recognizers import Recognizer3D
from mmaction.registry import MODELS
from mmcv.cnn import build_norm_layer
from mmengine.logging import MMLogger

from ..assignment import shape_set_names
from ..layer_keys import block_name
from ..layers.cakes_conv_impl import check_impl
from ..layers.sites import find_cakes_layers
from ..models import ResNet3dCAKES, ResNet3dCAKESBase
from .measured_cost import ShapeCostTable
from .supernet_conv import SCHEMES, CAKESSupernetConv3d

__all__ = ['ResNet3dCAKESSupernet', 'CAKESSearchRecognizer']


@MODELS.register_module()
class ResNet3dCAKESSupernet(ResNet3dCAKESBase):
    """The search supernet: the CAKES skeleton with every candidate.

    A sibling of :class:`ResNet3dCAKES` on the same skeleton
    (:class:`ResNet3dCAKESBase`): every CAKES site (the middle conv of each
    bottleneck, named by its module path) is a
    :class:`CAKESSupernetConv3d` with ``C`` candidates per shape and its own
    BatchNorm; the site's ConvModule keeps only its ReLU. The bottleneck's
    ``conv3`` takes all ``n * C`` candidate channels, so each of its input
    channels always sees the same candidate, in both schemes.

    Only bottleneck depths (50, 101, 152) can be searched: in a basic
    block the second 3x3 conv feeds the residual sum, so its candidates
    could not be widened.

    Args:
        scheme (str): ``'C'`` (cost priority: all candidates, L1 on gamma)
            or ``'P'`` (performance priority: exactly ``C`` random
            candidates per layer per iteration). Defaults to ``'C'``.
        shapes (str | Sequence[str]): Candidate shapes, a list or a name
            of :data:`~cakes_mmaction.shapes.SHAPE_SETS`
            (``'video'``, ``'12d'``, ``'23d'``, ``'volumetric'`` ...).
            Defaults to ``'video'``.
        cakes_impl (str): ``impl`` of the supernet layers' convolution of
            all candidates (see :class:`ResNet3dCAKES`). Defaults to
            ``'reference'``.
        **kwargs: The skeleton's arguments, as for :class:`ResNet3dCAKES`
            (the searched network is built from them,
            :meth:`searched_backbone`); not ``assignment``, which the
            search produces.
    """

    #: The supernet layers own their BatchNorm (gamma is the importance).
    SITE_NORM = False

    def __init__(self,
                 scheme: str = 'C',
                 shapes: Union[str, List[str]] = 'video',
                 cakes_impl: str = 'reference',
                 **kwargs) -> None:
        if 'assignment' in kwargs:
            raise ValueError(
                'ResNet3dCAKESSupernet searches the assignment and does not '
                f'take one; got assignment={kwargs["assignment"]!r}. Use '
                '`shapes` to choose the candidates.')
        scheme = str(scheme).upper()
        if scheme not in SCHEMES:
            raise ValueError(
                f'scheme must be one of {SCHEMES}, got {scheme!r}')
        depth = kwargs.get('depth', 50)
        block = self.arch_settings.get(depth, (None, ))[0]
        if block is not None and block is not Bottleneck3d:
            raise ValueError(
                f'depth {depth} uses basic blocks, whose second 3x3 conv '
                f'feeds the residual sum and cannot be widened into '
                f'candidates; search a bottleneck ResNet (depth 50, 101 or '
                f'152)')
        if scheme == 'P' and kwargs.get('with_cp', False):
            raise ValueError(
                "scheme 'P' cannot use with_cp=True: checkpointing runs the "
                'forward twice and would sample two different candidate '
                'subsets for one iteration')
        super().__init__(**kwargs)
        self.scheme = scheme
        #: Candidate shapes, canonical order.
        self.shapes = shape_set_names(shapes)
        self.cakes_impl = check_impl(cakes_impl,
                                     'ResNet3dCAKESSupernet: cakes_')
        #: A supernet has no assignment until export.
        self.assignment = None
        self._build_sites()

    def build_cakes_layer(self, dense: nn.Conv3d,
                          path: str) -> CAKESSupernetConv3d:
        """The supernet layer searching one dense 3x3x3 conv.

        Args:
            dense (nn.Conv3d): The dense conv of the skeleton.
            path (str): Its ConvModule's module path.

        Returns:
            CAKESSupernetConv3d: The replacement.
        """
        norm = build_norm_layer(self.norm_cfg,
                                len(self.shapes) * dense.out_channels)[1]
        return CAKESSupernetConv3d.from_dense(
            dense, self.shapes, path, scheme=self.scheme, norm=norm,
            impl=self.cakes_impl)

    def searched_backbone(self, assignment: Any,
                          **kwargs) -> ResNet3dCAKES:
        """The network this search produces: the same skeleton, searched.

        Args:
            assignment: Any ``assignment`` of :class:`ResNet3dCAKES` (e.g.
                the exported one).
            **kwargs: Overrides of the skeleton's arguments (e.g.
                ``pretrained=None``) and ``cakes_impl``.

        Returns:
            ResNet3dCAKES: Built on the current default device.
        """
        return ResNet3dCAKES(
            assignment=assignment, **dict(self.skeleton_cfg, **kwargs))

    @property
    def supernet_layers(self) -> Dict[str, CAKESSupernetConv3d]:
        """dict[str, CAKESSupernetConv3d]: The searched layers by path."""
        return self.cakes_layers

    #: Importance scores :meth:`importance` can give.
    SCORES = ('gamma', 'contribution')

    def importance(self, score: str = 'gamma'
                   ) -> Dict[str, Dict[str, torch.Tensor]]:
        """Importance of every candidate.

        Args:
            score (str): ``'gamma'``, the paper's ``|gamma|``; or
                ``'contribution'``, ``|gamma| * ||w||`` with ``w`` the
                candidate's column of the bottleneck's ``conv3``: the size
                of what the candidate adds to the block's output, which
                ``|gamma|`` alone misses when the next layer scales
                candidates differently. Defaults to ``'gamma'``.

        Returns:
            dict: ``{path: {shape: (C,) tensor}}`` in module order.
        """
        if score not in self.SCORES:
            raise ValueError(f'score must be one of {self.SCORES}, got '
                             f'{score!r}')
        scores = OrderedDict()
        for path, layer in self.supernet_layers.items():
            gamma = layer.importance()
            if score == 'contribution':
                block = self.get_submodule(block_name(path))
                weight = block.conv3.conv.weight.detach()
                norms = weight.transpose(0, 1).reshape(
                    weight.shape[1], -1).norm(dim=1)
                gamma = OrderedDict(
                    (shape, g * norms[i * layer.width:(i + 1) * layer.width])
                    for i, (shape, g) in enumerate(gamma.items()))
            scores[path] = gamma
        return scores

    # ------------------------------------------------------------------
    def inflate_from_state_dict_2d(self,
                                   state_dict: Dict[str, Any],
                                   logger: Optional[MMLogger] = None
                                   ) -> List[str]:
        """Inflate a 2D ResNet: each shape group gets a full copy.

        Supernet layers get ``n`` copies of the inflated filters
        (:meth:`CAKESSupernetConv3d.inflate_from_2d`) and the 2D
        BatchNorm tiled ``n`` times. ``conv3`` gets the 2D weight tiled
        over the ``n`` candidate groups, divided by ``n`` for the C scheme
        (all groups active: the 2D response is reproduced exactly on
        inputs constant in time and space) and not divided for the P scheme
        (``C`` of ``n * C`` candidates active: reproduced in expectation,
        and exactly in eval mode while all gammas are equal). Everything
        else follows :class:`ResNet3dCAKES`.

        Args:
            state_dict (dict): torchvision ResNet keys.
            logger (MMLogger, optional): Defaults to the current logger.

        Returns:
            list[str]: The 2D keys that were used.
        """
        state_dict = OrderedDict(state_dict)
        norms = OrderedDict()
        for path in self.cakes_sites():
            bn_2d = path.replace('conv', 'bn')
            norms[path] = OrderedDict(
                (key[len(bn_2d) + 1:], state_dict.pop(key))
                for key in list(state_dict) if key.startswith(bn_2d + '.'))
            key = block_name(path) + '.conv3.weight'
            if key in state_dict:
                groups = len(self.shapes)
                tiled = state_dict[key].repeat(1, groups, 1, 1)
                state_dict[key] = tiled / groups if self.scheme == 'C' \
                    else tiled
        used = super().inflate_from_state_dict_2d(state_dict, logger)
        layers = self.supernet_layers
        for path, params in norms.items():
            layer = layers[path]
            bn_2d = path.replace('conv', 'bn')
            used += [
                f'{bn_2d}.{name}' for name in layer.inflate_bn_from_2d(params)
            ]
        return used


@MODELS.register_module()
class CAKESSearchRecognizer(Recognizer3D):
    """Recognizer3D over a search supernet, with the C-scheme L1 term.

    For the C scheme the training losses get
    ``loss_sparsity = s * lambda_t * sum_layers sum_shape w_shape *
    sum |gamma_shape|``, so autograd adds exactly
    ``s * lambda_t * w_shape * sign(gamma)`` to every gamma's gradient,
    once per optimizer step, under AMP, gradient accumulation and DDP
    alike. ``w_shape`` is the kernel volume over the sum of the set's
    volumes with ``reweight`` (9/13, 3/13, 1/13 for the video set), else 1.
    With ``cost_table`` (a :class:`~cakes_mmaction.search.ShapeCostTable`
    file measured on the target device) ``w_shape`` is instead each
    layer's measured cost of the shape over the sum of its shapes' costs
    (``cost_scope='layer'``), or over the mean of that sum across the
    searched layers (``cost_scope='network'``: a layer whose channels cost
    more is pulled harder).
    ``lambda_t`` is 1 unless a
    :class:`~cakes_mmaction.search.CAKESSparsityHook` schedules it.

    Args:
        sparsity (dict, optional): ``dict(s=1e-4, reweight=True,
            cost_table=None, cost_scope='layer')``. None
            means the scheme's default: that dict for ``'C'``, no term for
            ``'P'`` (which has none in the paper; giving one is an error).
            Defaults to None.
        **kwargs: :class:`Recognizer3D` arguments; ``backbone`` must build
            a :class:`ResNet3dCAKESSupernet` (or any backbone with
            :class:`CAKESSupernetConv3d` layers).
    """

    SPARSITY_DEFAULTS = dict(
        s=1e-4, reweight=True, cost_table=None, cost_scope='layer')
    COST_SCOPES = ('layer', 'network')

    def __init__(self, *args, sparsity: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Found once: the sparsity term reads them on every loss.
        self._supernet_layers = find_cakes_layers(
            self.backbone, (CAKESSupernetConv3d, ))
        layers = self.supernet_layers
        if not layers:
            raise ValueError(
                'CAKESSearchRecognizer needs a backbone with CAKES supernet '
                f'layers (type=ResNet3dCAKESSupernet), got '
                f'{type(self.backbone).__name__}')
        schemes = {layer.scheme for layer in layers.values()}
        if len(schemes) != 1:
            raise ValueError(f'supernet layers mix schemes {schemes}')
        self.scheme = schemes.pop()
        #: Per-layer penalty weights from a cost table (None: by volume).
        self._penalty_weights = None
        self.sparsity = self._check_sparsity(sparsity)
        self.sparsity_lambda = 1.0

    def _check_sparsity(self, sparsity: Optional[dict]) -> Optional[dict]:
        if self.scheme == 'P':
            if sparsity is not None:
                raise ValueError(
                    "scheme 'P' has no sparsity term; "
                    f'set sparsity=None, got {sparsity!r}')
            return None
        merged = dict(self.SPARSITY_DEFAULTS)
        merged.update(sparsity or {})
        unknown = sorted(set(merged) - set(self.SPARSITY_DEFAULTS))
        if unknown:
            raise ValueError(
                f'unknown sparsity option(s) {unknown}; supported: '
                f'{sorted(self.SPARSITY_DEFAULTS)}')
        s = merged['s']
        if isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0:
            raise ValueError(
                f'sparsity s must be a non-negative number, got {s!r}')
        if not isinstance(merged['reweight'], bool):
            raise ValueError(f'sparsity reweight must be True or False, got '
                             f'{merged["reweight"]!r}')
        scope = merged['cost_scope']
        if scope not in self.COST_SCOPES:
            raise ValueError(f'sparsity cost_scope must be one of '
                             f'{self.COST_SCOPES}, got {scope!r}')
        if scope == 'network' and merged['cost_table'] is None:
            raise ValueError("sparsity cost_scope='network' compares the "
                             'layers by measured cost; give a cost_table')
        if merged['cost_table'] is not None:
            table = ShapeCostTable.coerce(merged['cost_table'])
            # Resolved now, so a table that lacks a layer fails at build.
            layers = self.supernet_layers
            if scope == 'network':
                self._penalty_weights = table.network_penalty_weights(
                    OrderedDict((p, l.shapes) for p, l in layers.items()))
            else:
                self._penalty_weights = OrderedDict(
                    (path, table.penalty_weights(path, layer.shapes))
                    for path, layer in layers.items())
        checked = dict(s=float(s), reweight=merged['reweight'])
        if merged['cost_table'] is not None:
            checked['cost_table'] = merged['cost_table']
            checked['cost_scope'] = scope
        return checked

    @property
    def supernet_layers(self) -> Dict[str, CAKESSupernetConv3d]:
        """dict[str, CAKESSupernetConv3d]: The backbone's supernet layers
        by module path, in module order (found once, when built)."""
        return self._supernet_layers

    def set_sparsity_lambda(self, value: float) -> None:
        """Set ``lambda_t`` (called by the sparsity hook every iteration).

        Args:
            value (float): The schedule's current value, ``>= 0``.
        """
        if self.sparsity is None:
            raise RuntimeError(
                f'this {self.scheme}-scheme search has no sparsity term to '
                f'schedule')
        if value < 0:
            raise ValueError(f'lambda must be >= 0, got {value}')
        self.sparsity_lambda = float(value)

    def sparsity_loss(self) -> torch.Tensor:
        """``s * lambda_t * sum_layers sum_shape w_shape * sum |gamma|``.

        Returns:
            Tensor: A scalar on the parameters' device.
        """
        weights = self._penalty_weights or {}
        penalties = [
            layer.l1_penalty(self.sparsity['reweight'], weights.get(path))
            for path, layer in self.supernet_layers.items()
        ]
        scale = self.sparsity['s'] * self.sparsity_lambda
        return scale * torch.stack(penalties).sum()

    def loss(self, inputs: torch.Tensor, data_samples, **kwargs) -> dict:
        """The recognizer's losses, plus ``loss_sparsity`` (C scheme).

        Args:
            inputs (Tensor): The clips.
            data_samples (list[ActionDataSample]): Their labels.

        Returns:
            dict: Losses; every key with ``loss`` is summed by mmengine.
        """
        losses = super().loss(inputs, data_samples, **kwargs)
        if self.sparsity is not None:
            losses['loss_sparsity'] = self.sparsity_loss()
        return losses
