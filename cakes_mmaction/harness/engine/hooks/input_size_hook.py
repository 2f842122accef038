"""Record the clip size a network is trained on in its checkpoints."""
from typing import List, Optional

from mmaction.registry import HOOKS
from mmengine.hooks import Hook

__all__ = ['InputSizeHook']


@HOOKS.register_module()
class InputSizeHook(Hook):
    """Write ``meta['train_input_size']`` (``[T, H, W]``) into checkpoints.

    The size is that of the first training batch's clips. ``tools/demo.py``
    reads it to warn when a video's frames are far from it (a network
    trained on 32x32 clips scoring a 720p video).
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self.size: Optional[List[int]] = None

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        """Take the clip size of the first batch."""
        if self.size is not None or not isinstance(data_batch, dict):
            return
        inputs = data_batch.get('inputs')
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        shape = getattr(first, 'shape', None)
        if shape is not None and len(shape) >= 3:
            self.size = [int(v) for v in shape[-3:]]

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the size to the checkpoint's ``meta``."""
        if self.size is not None:
            checkpoint.setdefault('meta', {})['train_input_size'] = self.size
