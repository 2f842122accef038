"""Recognise the action in one video file (decoded with decord)."""
import copy
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple

import torch
from mmaction.apis import inference_recognizer, init_recognizer
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from ...checkpoints.fit import head_classes, load_checked_checkpoint
from ...checkpoints.nonfinite import NonFiniteError
from ..datasets.transforms import read_class_names

__all__ = [
    'video_test_pipeline', 'load_recognizer', 'recognize_video',
    'format_top_k'
]

# Frame-folder and other decoders that a video file replaces by decord.
_DECODERS = ('RawFrameDecode', 'CheckedRawFrameDecode', 'DecordDecode',
             'CheckedDecordDecode', 'PyAVDecode', 'OpenCVDecode')
_INITS = ('DecordInit', 'CheckedDecordInit', 'PyAVInit', 'OpenCVInit')


def video_test_pipeline(cfg: Config) -> List[dict]:
    """The config's test pipeline, reading a video file with decord.

    Frame-folder configs (SthV1) decode frames; for a video file their
    decoder becomes :class:`CheckedDecordInit` (first) and
    :class:`CheckedDecordDecode`; sampling, resizing and cropping stay.

    Args:
        cfg (Config): A recognizer config.

    Returns:
        list[dict]: Pipeline steps for ``dict(filename=..., start_index=0)``.
    """
    loader = cfg.get('test_dataloader') or {}
    steps = cfg.get('test_pipeline') or loader.get('dataset', {}).get(
        'pipeline')
    if not steps:
        raise ValueError(f'{cfg.filename}: no test_pipeline and no '
                         'test_dataloader.dataset.pipeline')
    pipeline = [dict(type='CheckedDecordInit')]
    for step in copy.deepcopy(list(steps)):
        kind = step['type']
        if kind in _INITS:
            continue
        if kind in _DECODERS:
            step = dict(type='CheckedDecordDecode')
        pipeline.append(step)
    return pipeline


def recognize_video(video: str,
                    config: Any,
                    checkpoint: str,
                    label_map: Optional[str] = None,
                    top_k: int = 5,
                    device: str = 'cpu') -> List[Tuple[str, float]]:
    """Top-k classes of a video file with their scores.

    Args:
        video (str): The video file (any format decord reads).
        config (str | Config): The recognizer's config.
        checkpoint (str): Its weights.
        label_map (str, optional): Class names, one per line (line number =
            label). Defaults to None (labels are printed as numbers).
        top_k (int): How many classes. Defaults to 5.
        device (str): ``'cpu'`` or ``'cuda:0'`` ... Defaults to ``'cpu'``.

    Returns:
        list[tuple[str, float]]: ``(class name, score)``, best first; the
        scores are the head's test-time outputs (probabilities with
        ``average_clips='prob'``).
    """
    for path, what in ((video, 'video'), (checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: {what} file not found')
    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'{config}: config file not found')
        config = Config.fromfile(config)
    names = read_class_names(label_map) if label_map else None
    model = load_recognizer(config, checkpoint, device=device)
    classes = head_classes(model.state_dict())
    if names is not None and classes and len(names) != classes[1]:
        raise ValueError(f'{label_map}: {len(names)} class names, but the '
                         f'model of {config.filename} and {checkpoint} has '
                         f'{classes[1]} classes')
    init_default_scope(config.get('default_scope', 'mmaction'))
    pipeline = Compose(video_test_pipeline(config))
    result = inference_recognizer(model, osp.abspath(video), pipeline)
    scores = result.pred_score.detach().cpu()
    if not bool(torch.isfinite(scores).all()):
        raise NonFiniteError(
            f'{video}: the model ({checkpoint}) gives non-finite class '
            f'scores {scores.tolist()[:5]}...; its weights or this input are '
            'broken')
    values, labels = torch.topk(scores, min(top_k, scores.numel()))
    return [(names[i] if names else str(i), float(v))
            for v, i in zip(values.tolist(), labels.tolist())]


def load_recognizer(config: Config,
                    checkpoint: str,
                    device: str = 'cpu') -> torch.nn.Module:
    """A recognizer with a checkpoint that fits it, in eval mode.

    mmaction2's ``init_recognizer`` loads with ``strict=False``: a
    checkpoint of another class count, architecture or assignment leaves
    random weights behind a warning, and NaN weights load silently. Here
    the checkpoint is checked first
    (:func:`~cakes_mmaction.checkpoints.fit.load_checked_checkpoint`):
    one error naming the file, the config and what differs, before any
    video is decoded.

    Args:
        config (Config): The recognizer's config.
        checkpoint (str): Its weights.
        device (str): ``'cpu'`` or ``'cuda:0'`` ... Defaults to ``'cpu'``.

    Returns:
        nn.Module: The recognizer (``model.cfg`` set, eval mode).
    """
    model = init_recognizer(config, None, device='cpu')
    load_checked_checkpoint(model, checkpoint, config=config.filename)
    return model.to(device).eval()


def format_top_k(results: Sequence[Tuple[str, float]]) -> str:
    """One line per class: rank, score and name.

    Args:
        results (Sequence[tuple[str, float]]): From
            :func:`recognize_video`.

    Returns:
        str: The table.
    """
    return '\n'.join(f'{rank}. {score:.4f}  {name}'
                     for rank, (name, score) in enumerate(results, start=1))
