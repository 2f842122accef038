"""Confusion matrix of dumped test predictions.

``tools/test.py CONFIG CKPT --dump preds.pkl`` writes every prediction
(mmengine's ``DumpResults``: one dict per sample with ``pred_score`` and
``gt_label``). :func:`load_predictions` reads that file without running
code from it (a pickle restricted to tensors, dicts and lists; a tensor's
bytes load through torch's weights-only loader), :func:`confusion_matrix`
counts, :func:`plot_confusion_matrix` draws and
:func:`confusion_summary` tells the per-class recall and the most frequent
confusions. ``tools/analysis/confusion_matrix.py`` is the command line.
"""
import io
import pickle
from typing import List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'load_predictions', 'confusion_matrix', 'plot_confusion_matrix',
    'confusion_summary'
]


def _tensor_from_bytes(data: bytes):
    import torch
    return torch.load(io.BytesIO(data), weights_only=True)


def _allowed():
    import torch
    return {
        ('collections', 'OrderedDict'): __import__('collections').OrderedDict,
        ('torch._utils', '_rebuild_tensor_v2'):
        torch._utils._rebuild_tensor_v2,
        ('torch.storage', '_load_from_bytes'): _tensor_from_bytes,
        ('_codecs', 'encode'): __import__('codecs').encode,
    }


class _PredictionUnpickler(pickle.Unpickler):
    """Unpickler of DumpResults files: no global outside the allow-list."""

    def __init__(self, file, source: str) -> None:
        super().__init__(file)
        self.source = source
        self.allowed = _allowed()

    def find_class(self, module: str, name: str):
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise pickle.UnpicklingError(
            f'{self.source}: refers to {module}.{name}, which a predictions '
            'file (tools/test.py --dump) never holds; not loaded')


def _as_int(value, source: str, index: int, key: str) -> int:
    array = np.asarray(value.cpu() if hasattr(value, 'cpu') else value)
    if array.size != 1:
        raise ValueError(f'{source}: sample {index}: {key} holds '
                         f'{array.size} values; expected one label')
    return int(array.reshape(-1)[0])


def load_predictions(path: str) -> Tuple[np.ndarray, np.ndarray, int]:
    """True and predicted labels of a ``tools/test.py --dump`` file.

    Args:
        path (str): The ``.pkl`` file.

    Returns:
        tuple: ``(labels, predictions, num_classes)``; the prediction of a
        sample is the argmax of its ``pred_score``.
    """
    with open(path, 'rb') as f:
        try:
            samples = _PredictionUnpickler(f, path).load()
        except pickle.UnpicklingError:
            raise
        except Exception as err:
            raise ValueError(f'{path}: not a predictions file of tools/'
                             f'test.py --dump ({type(err).__name__}: '
                             f'{err})') from None
    if not isinstance(samples, list) or not samples:
        raise ValueError(f'{path}: expected a non-empty list of samples')
    labels, preds, num_classes = [], [], None
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict) or not {'pred_score', 'gt_label'
                                                } <= set(sample):
            raise ValueError(f'{path}: sample {i} has no pred_score and '
                             'gt_label')
        score = np.asarray(sample['pred_score'].float().cpu() if hasattr(
            sample['pred_score'], 'cpu') else sample['pred_score'])
        if score.ndim != 1 or not np.isfinite(score).all():
            raise ValueError(f'{path}: sample {i}: pred_score must be a '
                             f'finite vector, got shape {score.shape}')
        if num_classes is None:
            num_classes = score.size
        elif score.size != num_classes:
            raise ValueError(f'{path}: sample {i} scores {score.size} '
                             f'classes, sample 0 {num_classes}')
        labels.append(_as_int(sample['gt_label'], path, i, 'gt_label'))
        preds.append(int(score.argmax()))
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f'{path}: labels outside [0, {num_classes})')
    return labels, np.asarray(preds), int(num_classes)


def confusion_matrix(labels: Sequence[int], predictions: Sequence[int],
                     num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class.

    Args:
        labels (Sequence[int]): True labels.
        predictions (Sequence[int]): Predicted labels.
        num_classes (int): Number of classes.

    Returns:
        np.ndarray: ``(num_classes, num_classes)`` int64 counts.
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def confusion_summary(matrix: np.ndarray,
                      names: Optional[Sequence[str]] = None,
                      top: int = 5) -> str:
    """Accuracy, per-class recall and the most frequent confusions.

    Args:
        matrix (np.ndarray): From :func:`confusion_matrix`.
        names (Sequence[str], optional): Class names. Defaults to numbers.
        top (int): How many confusions to list. Defaults to 5.

    Returns:
        str: The text.
    """
    n = matrix.shape[0]
    names = list(names) if names is not None else [str(i) for i in range(n)]
    total = int(matrix.sum())
    lines = [f'{total} samples, top-1 {100 * np.trace(matrix) / total:.1f}%',
             'recall per class:']
    for i in range(n):
        support = int(matrix[i].sum())
        recall = (f'{100 * matrix[i, i] / support:5.1f}%'
                  if support else '    -')
        lines.append(f'  {i:>3} {recall} of {support:>4}  {names[i]}')
    off = [(int(matrix[i, j]), i, j) for i in range(n) for j in range(n)
           if i != j and matrix[i, j]]
    off.sort(key=lambda item: (-item[0], item[1], item[2]))
    if off:
        lines.append('most frequent confusions (true -> predicted):')
        lines += [
            f'  {count:>4}  {names[i]} -> {names[j]}'
            for count, i, j in off[:top]
        ]
    return '\n'.join(lines)


def plot_confusion_matrix(matrix: np.ndarray,
                          names: Optional[Sequence[str]] = None,
                          normalize: bool = True,
                          title: Optional[str] = None):
    """Draw a confusion matrix (rows: true, columns: predicted).

    Args:
        matrix (np.ndarray): From :func:`confusion_matrix`.
        names (Sequence[str], optional): Class names for the ticks.
        normalize (bool): Show each row as shares of its class. Defaults to
            True.
        title (str, optional): Title. Defaults to None.

    Returns:
        matplotlib.figure.Figure: The figure (no pyplot state).
    """
    from matplotlib.figure import Figure
    n = matrix.shape[0]
    values = matrix.astype(float)
    if normalize:
        support = values.sum(axis=1, keepdims=True)
        values = np.divide(values, support, out=np.zeros_like(values),
                           where=support > 0)
    size = min(20.0, max(4.0, 0.35 * n + 2.5))
    fig = Figure(figsize=(size + 1.0, size), layout='constrained')
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap='Blues', vmin=0)
    fig.colorbar(image, ax=ax, shrink=0.8,
                 label='share of the true class' if normalize else 'count')
    ticks: List[str] = (list(names) if names is not None and n <= 60 else
                        [str(i) for i in range(n)])
    step = max(1, n // 60)
    ax.set_xticks(range(0, n, step))
    ax.set_yticks(range(0, n, step))
    ax.set_xticklabels(ticks[::step], rotation=90, fontsize='x-small')
    ax.set_yticklabels(ticks[::step], fontsize='x-small')
    ax.set_xlabel('predicted class')
    ax.set_ylabel('true class')
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha='center',
                            va='center', fontsize='x-small',
                            color='white' if values[i, j] > 0.5 else 'black')
    if title:
        ax.set_title(title)
    return fig
