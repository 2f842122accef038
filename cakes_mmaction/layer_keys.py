"""The names of CAKES layers: backbone sites, modules and state-dict keys.

This module is the one owner of that key space; every other module asks it
instead of stripping or gluing strings itself.

A CAKES layer sits at a backbone *site*, the mmcv ``ConvModule`` that
mmaction2's ResNet3d builds for a 3D convolution, e.g. ``layer3.4.conv2``.
Assignments, cost tables, plots and messages name layers by site. The
``CAKESConv3d`` itself is the ConvModule's ``conv`` child, module
``layer3.4.conv2.conv``, and the weight of its channels of one kernel
shape is the state-dict entry
``backbone.layer3.4.conv2.conv.branches.3x1x1.weight`` of shape
``(count, C_in, T, H, W)``.
"""
import re
from typing import Optional, Tuple

__all__ = [
    'BACKBONE_PREFIX', 'site_name', 'conv_module_name', 'branch_key',
    'parse_branch_key', 'local_branch_shape', 'is_branch_param',
    'block_name'
]

#: Prefix of the backbone's keys in a recognizer's state dict.
BACKBONE_PREFIX = 'backbone.'
# The CAKESConv3d is the ``conv`` child of the ConvModule at a site.
_CONV = '.conv'
# Branch weights are ``<conv module>.branches.<shape>.weight``.
_BRANCHES = 'branches.'
# Any parameter of a branch (weight or bias) has this in its key.
_IN_BRANCH = '.' + _BRANCHES
_WEIGHT = '.weight'
_BRANCH_KEY = re.compile(r'^(?P<module>.+)\.branches\.(?P<shape>[^.]+)'
                         r'\.weight$')


def site_name(module_name: str) -> str:
    """The site of a CAKES layer from a module name or key prefix.

    Args:
        module_name (str): The ``CAKESConv3d``'s module name
            (``'layer1.0.conv2.conv'``), a state-dict prefix of it
            (``'layer1.0.conv2.conv.'``) or already a site.

    Returns:
        str: The site, e.g. ``'layer1.0.conv2'``.
    """
    name = module_name.rstrip('.')
    return name[:-len(_CONV)] if name.endswith(_CONV) else name


def conv_module_name(site: str, prefix: str = '') -> str:
    """The module name of the ``CAKESConv3d`` at a site.

    Args:
        site (str): The site, e.g. ``'layer1.0.conv2'``.
        prefix (str): Prepended, e.g. :data:`BACKBONE_PREFIX` for a
            recognizer's module names.

    Returns:
        str: e.g. ``'backbone.layer1.0.conv2.conv'``.
    """
    return f'{prefix}{site}{_CONV}'


def branch_key(site: str,
               shape: str,
               prefix: str = BACKBONE_PREFIX) -> str:
    """The state-dict key of one kernel shape's weight at a site.

    Args:
        site (str): The site, e.g. ``'layer1.0.conv2'``.
        shape (str): The kernel shape's name, e.g. ``'3x1x1'``.
        prefix (str): Prefix of the backbone's keys (``''`` for the
            backbone's own state dict).

    Returns:
        str: e.g. ``'backbone.layer1.0.conv2.conv.branches.3x1x1.weight'``.
    """
    return f'{conv_module_name(site, prefix)}.{_BRANCHES}{shape}{_WEIGHT}'


def parse_branch_key(key: str,
                     prefix: str = BACKBONE_PREFIX
                     ) -> Optional[Tuple[str, str]]:
    """The site and kernel shape of a branch weight's key.

    Args:
        key (str): A state-dict key.
        prefix (str): Prefix of the backbone's keys; keys without it are
            not branch keys. With ``''`` any prefix stays in the site.

    Returns:
        tuple[str, str] | None: ``(site, shape)``, e.g.
        ``('layer1.0.conv2', '3x1x1')``, or None when ``key`` is not the
        weight of a CAKES branch.
    """
    if not key.startswith(prefix):
        return None
    match = _BRANCH_KEY.match(key[len(prefix):])
    if match is None:
        return None
    return site_name(match.group('module')), match.group('shape')


def local_branch_shape(key: str, module_prefix: str) -> Optional[str]:
    """The kernel shape of a branch weight key seen from its layer.

    ``CAKESConv3d._load_from_state_dict`` gets the full state dict and its
    own prefix (``'backbone.layer1.0.conv2.conv.'``); this picks its own
    branch weights out of it.

    Args:
        key (str): A state-dict key.
        module_prefix (str): The layer's key prefix, ending in ``'.'``.

    Returns:
        str | None: The shape name, or None when ``key`` is not a branch
        weight of this layer.
    """
    marker = module_prefix + _BRANCHES
    if not (key.startswith(marker) and key.endswith(_WEIGHT)):
        return None
    shape = key[len(marker):-len(_WEIGHT)]
    return None if '.' in shape else shape


def is_branch_param(key: str) -> bool:
    """Whether a state-dict key is a parameter of a CAKES branch.

    Branch parameters (weights and biases) are compared per layer, by
    count table, rather than key by key.

    Args:
        key (str): A state-dict key.

    Returns:
        bool: True for ``'...conv.branches.<shape>.weight'`` and
        ``'...conv.branches.<shape>.bias'``.
    """
    return _IN_BRANCH in key


def block_name(site: str) -> str:
    """The residual block a site belongs to.

    Args:
        site (str): The site, e.g. ``'layer1.0.conv2'``.

    Returns:
        str: e.g. ``'layer1.0'``; its other convs are ``'<block>.conv3'``
        and so on.
    """
    return site.rsplit('.', 1)[0]
