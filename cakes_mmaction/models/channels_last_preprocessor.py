"""mmaction2's data preprocessor, handing the model channels-last clips."""
from typing import List, Tuple

import torch
from mmaction.models import ActionDataPreprocessor
from mmaction.registry import MODELS

__all__ = ['ChannelsLastActionDataPreprocessor', 'to_channels_last_3d']


def to_channels_last_3d(inputs: torch.Tensor) -> torch.Tensor:
    """Lay a clip batch out channels-last, keeping its shape.

    A 5D ``(N, C, T, H, W)`` batch gets ``torch.channels_last_3d``. mmaction's
    ``NCTHW`` batches are 6D ``(N, clips, C, T, H, W)`` and the recognizer
    views them as ``(N * clips, C, T, H, W)``; they are laid out so that this
    view is ``channels_last_3d`` without a copy. Other tensors are returned
    as they are.

    Args:
        inputs (torch.Tensor): The batch.

    Returns:
        torch.Tensor: The same values, channels innermost in memory.
    """
    if inputs.dim() == 5:
        return inputs.contiguous(memory_format=torch.channels_last_3d)
    if inputs.dim() == 6:
        return inputs.permute(0, 1, 3, 4, 5, 2).contiguous().permute(
            0, 1, 5, 2, 3, 4)
    return inputs


@MODELS.register_module()
class ChannelsLastActionDataPreprocessor(ActionDataPreprocessor):
    """``ActionDataPreprocessor`` whose output clips are channels-last.

    With the model's weights also channels-last (``ChannelsLastHook``),
    cuDNN runs every 3D convolution in NDHWC, the layout its tensor-core
    kernels use for mixed precision. Arguments are those of
    ``ActionDataPreprocessor``.
    """

    def preprocess(self,
                   inputs: List[torch.Tensor],
                   data_samples: list,
                   training: bool = False) -> Tuple[torch.Tensor, list]:
        """Normalize and batch as mmaction does, then go channels-last."""
        batch_inputs, data_samples = super().preprocess(
            inputs, data_samples, training)
        return to_channels_last_3d(batch_inputs), data_samples
