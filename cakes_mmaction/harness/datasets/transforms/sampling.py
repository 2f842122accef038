"""TSN segment sampling that yields one clip, the input of a 3D network."""
from typing import Dict

from mmaction.datasets.transforms import SampleFrames
from mmaction.registry import TRANSFORMS

__all__ = ['SegmentSampleFrames']


@TRANSFORMS.register_module()
class SegmentSampleFrames(SampleFrames):
    """TSN segment sampling returning one clip of ``num_segments`` frames.

    The video is cut into ``num_segments`` equal segments and one frame is
    taken from each: at a random offset when training, at the segment
    centre when testing (:class:`SampleFrames` with ``clip_len=1``). The
    frames then form one ``num_segments``-frame clip for ``FormatShape``
    (``'NCTHW'``), not ``num_segments`` one-frame clips.

    Args:
        num_segments (int): Frames per clip. Defaults to 8.
        test_mode (bool): Segment centres instead of random offsets.
            Defaults to False.
        **kwargs: Other :class:`SampleFrames` arguments
            (``out_of_bound_opt``, ``keep_tail_frames``, ...).
    """

    def __init__(self,
                 num_segments: int = 8,
                 test_mode: bool = False,
                 **kwargs) -> None:
        for fixed in ('clip_len', 'num_clips', 'frame_interval'):
            if fixed in kwargs:
                raise ValueError(
                    f'SegmentSampleFrames takes num_segments, not {fixed}='
                    f'{kwargs[fixed]!r}: one frame per segment, one clip')
        super().__init__(
            clip_len=1,
            frame_interval=1,
            num_clips=num_segments,
            test_mode=test_mode,
            **kwargs)
        self.num_segments = num_segments

    def transform(self, results: Dict) -> Dict:
        """Sample the frame indices.

        Args:
            results (dict): Needs ``total_frames`` and ``start_index``.

        Returns:
            dict: With ``frame_inds``, ``clip_len=num_segments`` and
            ``num_clips=1``.
        """
        results = super().transform(results)
        results['clip_len'] = self.num_segments
        results['num_clips'] = 1
        return results


# --------------------------------------------------------------------------
# Flip with a label map derived from the class names
# --------------------------------------------------------------------------
