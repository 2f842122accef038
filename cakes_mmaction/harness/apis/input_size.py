"""Is a video's frame size far from what the network was trained on?

A network trained on 32x32 clips (the demo) scores a 720p video without
complaint, and its answer means little. :func:`input_size_warning` compares
the frame size the recognizer will see for a video (its test pipeline's
resizes and crops run on one blank frame of the video's size) with the
training size: the ``train_input_size`` that :class:`InputSizeHook`
records in checkpoints, or else the size the training pipeline produces
whatever the frame size (a fixed resize or crop).
"""
from typing import Any, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'pipeline_frame_size', 'trained_frame_size', 'video_frame_size',
    'input_size_warning'
]

# Steps between decoding and formatting that change the frame size.
_SIZE_STEPS = ('Resize', 'CenterCrop', 'ThreeCrop', 'TenCrop',
               'MultiScaleCrop', 'RandomResizedCrop', 'RandomCrop')
#: A side this many times larger or smaller than trained is "far".
FAR = 2.0


def pipeline_frame_size(
        steps: Sequence[dict],
        frame_hw: Tuple[int, int]) -> Optional[Tuple[int, int]]:
    """The frame size a pipeline's resizes and crops make of a frame size.

    Args:
        steps (Sequence[dict]): Pipeline step configs.
        frame_hw (tuple[int, int]): The decoded frame's ``(H, W)``.

    Returns:
        tuple[int, int] | None: ``(H, W)`` of the network's input frames;
        None when a step cannot be run on a blank frame.
    """
    from mmaction.registry import TRANSFORMS
    from mmengine.registry import DefaultScope
    height, width = (int(v) for v in frame_hw)
    results = dict(
        imgs=[np.zeros((height, width, 3), np.uint8)],
        img_shape=(height, width),
        original_shape=(height, width),
        modality='RGB',
        num_clips=1,
        clip_len=1)
    with DefaultScope.overwrite_default_scope('mmaction'):
        for step in steps:
            if step.get('type') not in _SIZE_STEPS:
                continue
            try:
                results = TRANSFORMS.build(dict(step)).transform(results)
            except Exception:  # a step that needs more than a frame
                return None
    return tuple(int(v) for v in results['imgs'][0].shape[:2])


def trained_frame_size(cfg: Any,
                       checkpoint_meta: Optional[dict] = None
                       ) -> Optional[Tuple[int, int]]:
    """The frame size the network was trained on, if it can be told.

    Args:
        cfg (Config): The recognizer's config.
        checkpoint_meta (dict, optional): The checkpoint's ``meta``.

    Returns:
        tuple[int, int] | None: ``(H, W)``: the checkpoint's recorded
        ``train_input_size``, or the training pipeline's output when it is
        the same for any frame size; None otherwise.
    """
    recorded = (checkpoint_meta or {}).get('train_input_size')
    if recorded and len(recorded) >= 2:
        return tuple(int(v) for v in recorded[-2:])
    loader = cfg.get('train_dataloader') or {}
    steps = cfg.get('train_pipeline') or (loader.get('dataset')
                                          or {}).get('pipeline')
    if not steps:
        return None
    sizes = {pipeline_frame_size(steps, hw) for hw in ((90, 120), (480, 640))}
    if len(sizes) == 1 and None not in sizes:
        return sizes.pop()
    return None


def video_frame_size(video: str) -> Optional[Tuple[int, int]]:
    """``(H, W)`` of a video's frames, from its header (nothing decoded).

    OpenCV reads the container header only, so a corrupt stream cannot
    crash this; the decoder that reads the frames later checks the file.

    Args:
        video (str): The file.

    Returns:
        tuple[int, int] | None: Its frame size, or None if unknown.
    """
    import cv2
    capture = cv2.VideoCapture(video)
    try:
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    finally:
        capture.release()
    return (height, width) if height > 0 and width > 0 else None


def input_size_warning(cfg: Any,
                       video_hw: Tuple[int, int],
                       checkpoint_meta: Optional[dict] = None,
                       test_steps: Optional[Sequence[dict]] = None
                       ) -> Optional[str]:
    """A warning when the network would see frames far from its training.

    Args:
        cfg (Config): The recognizer's config.
        video_hw (tuple[int, int]): The video's frame size.
        checkpoint_meta (dict, optional): The checkpoint's ``meta``.
        test_steps (Sequence[dict], optional): The pipeline the video goes
            through. Defaults to the config's test pipeline.

    Returns:
        str | None: The warning, or None when the sizes are close (each
        side within a factor of 2) or the training size is unknown.
    """
    trained = trained_frame_size(cfg, checkpoint_meta)
    if trained is None:
        return None
    if test_steps is None:
        loader = cfg.get('test_dataloader') or {}
        test_steps = cfg.get('test_pipeline') or (loader.get('dataset')
                                                  or {}).get('pipeline', [])
    seen = pipeline_frame_size(test_steps, video_hw)
    if seen is None:
        return None
    ratios = [s / t for s, t in zip(seen, trained)]
    if all(1 / FAR <= r <= FAR for r in ratios):
        return None
    return (f'the video has {video_hw[0]}x{video_hw[1]} frames, so the '
            f'network sees {seen[0]}x{seen[1]} (after the test pipeline), '
            f'but it was trained on {trained[0]}x{trained[1]}: its scores '
            f'may mean little. Resize the video, or add a Resize to the '
            f'test pipeline (--cfg-options).')
