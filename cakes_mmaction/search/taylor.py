"""Candidate importance measured on data: a first-order Taylor estimate.

After a short search the BatchNorm scales ``|gamma|`` of the candidates
barely leave their initial value of 1, and in the C scheme what moves them
most is the sparsity term itself (it pulls costly shapes harder), so
ranking by ``|gamma|`` ranks mostly by cost. This module scores a
candidate by how much the classification loss would change if it were
removed, estimated to first order from the gradient of its BatchNorm
scale: removing candidate ``k`` sets ``gamma_k`` (and, with its shift,
the candidate's output) to zero, and the loss changes by about
``-gamma_k * dL/dgamma_k``. As in Molchanov et al. (CVPR 2019), the
per-batch estimate is squared and averaged over batches, so that
candidates whose effect changes sign from batch to batch still count.

The loss is the model's classification loss only (the sparsity term is
left out), computed with BatchNorm and dropout in eval mode, on data the
caller chooses (e.g. the validation split: a held-out score). A P-scheme
layer keeps drawing its random subsets, as during its search, and each
candidate is averaged over the batches that drew it.
"""
from collections import OrderedDict
from typing import Any, Dict, Iterable, Optional

import torch

from ..layers.sites import find_cakes_layers
from .supernet_conv import CAKESSupernetConv3d

__all__ = ['taylor_importance']


def _classification_loss(model: torch.nn.Module,
                         losses: Dict[str, Any]) -> torch.Tensor:
    """The model's own loss sum (mmengine's ``parse_losses``) without the
    search's sparsity term."""
    kept = {k: v for k, v in losses.items() if k != 'loss_sparsity'}
    if not any('loss' in k for k in kept):
        raise ValueError('the model returned no loss term to score '
                         f'candidates with (got keys {sorted(losses)})')
    return model.parse_losses(kept)[0]


def taylor_importance(model: torch.nn.Module,
                      data_loader: Iterable,
                      max_batches: Optional[int] = None,
                      seed: Optional[int] = 0
                      ) -> Dict[str, Dict[str, torch.Tensor]]:
    """Score every supernet candidate by its estimated effect on the loss.

    Args:
        model (nn.Module): A search recognizer (a data preprocessor, a
            supernet backbone, ``mode='loss'``), e.g. a built
            :class:`~cakes_mmaction.search.CAKESSearchRecognizer`. Its
            parameters are not changed; it is left in eval mode.
        data_loader (Iterable): Batches as the model's data preprocessor
            takes them (an mmengine data loader).
        max_batches (int, optional): Stop after this many batches.
            Defaults to None (the whole loader).
        seed (int, optional): Seed of the P-scheme draws, made on a forked
            generator so that the same checkpoint and data give the same
            scores and the caller's random state is left as it was. None:
            draw from the global generator. Defaults to 0.

    Returns:
        dict: ``{path: {shape: (C,) tensor}}`` in module order, like
        :meth:`ResNet3dCAKESSupernet.importance`: the mean over batches of
        ``(gamma * dL/dgamma) ** 2`` per candidate (a P-scheme candidate:
        over the batches that drew it; never drawn: 0).

    Raises:
        ValueError: The model has no supernet layers, the loader gave no
            batch, or ``max_batches`` is not positive.
    """
    if max_batches is not None and max_batches < 1:
        raise ValueError(f'max_batches must be >= 1, got {max_batches}')
    backbone = getattr(model, 'backbone', model)
    layers = find_cakes_layers(backbone, (CAKESSupernetConv3d, ))
    if not layers:
        raise ValueError(f'{type(model).__name__} has no CAKES supernet '
                         f'layers; there are no candidates to score')
    model.eval()
    for layer in layers.values():
        # Only the mask choice reads the layer's own flag (P: random draws
        # as in the search); its BatchNorm stays in eval mode.
        layer.training = layer.scheme == 'P'
    gammas = [layer.gamma() for layer in layers.values()]
    sums = [torch.zeros_like(g, dtype=torch.float64) for g in gammas]
    drawn = [torch.zeros_like(g, dtype=torch.float64) for g in gammas]
    batches = 0
    try:
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            for batch in data_loader:
                if max_batches is not None and batches >= max_batches:
                    break
                data = model.data_preprocessor(batch, False)
                loss = _classification_loss(model,
                                            model(**data, mode='loss'))
                grads = torch.autograd.grad(loss, gammas)
                for i, (layer, gamma, grad) in enumerate(
                        zip(layers.values(), gammas, grads)):
                    effect = (gamma.detach() * grad).double().pow(2)
                    mask = layer.last_mask
                    seen = (torch.ones_like(effect) if mask is None else
                            mask.to(effect.device, torch.float64))
                    sums[i] += effect * seen
                    drawn[i] += seen
                batches += 1
    finally:
        for layer in layers.values():
            layer.training = False
    if batches == 0:
        raise ValueError('the data loader gave no batch to score '
                         'candidates with')
    scores = OrderedDict()
    for (path, layer), total, count in zip(layers.items(), sums, drawn):
        mean = (total / count.clamp(min=1)).float().cpu()
        scores[path] = OrderedDict(
            (shape, mean[i * layer.width:(i + 1) * layer.width])
            for i, shape in enumerate(layer.shapes))
    return scores
