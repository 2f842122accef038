"""ChannelsLastHook: the model's weights in channels-last memory."""
import torch
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

__all__ = ['ChannelsLastHook', 'channels_last_3d']


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert every 5D parameter and buffer to ``channels_last_3d``.

    Runs once, before training or testing starts. The conversion is in
    place (``param.data``), so the optimizer and a DDP wrapper keep the
    same parameters; later weight initialisation and checkpoint loading
    copy into them and keep the layout. Pair it with
    ``ChannelsLastActionDataPreprocessor`` for the inputs.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        """Convert the (unwrapped) model."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        channels_last_3d(model)


def channels_last_3d(model: torch.nn.Module) -> int:
    """Lay out a model's 5D tensors (3D conv weights) channels-last.

    ``Module.to(memory_format=...)`` cannot do it for models that also hold
    4D weights (it gives every 4D/5D tensor the one format).

    Args:
        model (nn.Module): Converted in place.

    Returns:
        int: How many tensors were converted.
    """
    converted = 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.dim() == 5 and not tensor.is_contiguous(
                memory_format=torch.channels_last_3d):
            tensor.data = tensor.data.contiguous(
                memory_format=torch.channels_last_3d)
            converted += 1
    return converted
