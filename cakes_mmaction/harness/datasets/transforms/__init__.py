"""Transforms of the shipped configs, registered in mmaction's TRANSFORMS.

* :class:`SegmentSampleFrames`: TSN segment sampling (one frame per
  segment) that yields ONE clip of ``num_segments`` frames, the input of a
  3D network as in the paper.
* :class:`ClassNameFlip`: horizontal flip whose label swap is derived from
  the dataset's class-name file (Something-Something's *left* / *right*
  classes), never from hard-coded indices (the official code used V2's
  indices for V1).
* :class:`CheckedRawFrameDecode`, :class:`CheckedDecordInit`,
  :class:`CheckedDecordDecode`: mmaction's decoders, but a missing, empty,
  truncated or corrupt file raises an error naming that file instead of a
  bare OpenCV / decord message (or a silently wrong sample). The byte checks
  run on the bytes read for decoding, so every file is read once; the
  robust datasets leave the per-file checks to these decoders when their
  pipeline uses them.
"""
from .decoders import (CheckedDecordDecode, CheckedDecordInit,
                       CheckedRawFrameDecode, SampleDecodeError)
from .flip import (HANDEDNESS_WORDS, ClassNameFlip, describe_flip_map,
                   flip_label_map_from_names, read_class_names,
                   unpaired_handedness_words)
from .sampling import SegmentSampleFrames

__all__ = [
    'SampleDecodeError', 'SegmentSampleFrames', 'ClassNameFlip',
    'flip_label_map_from_names', 'read_class_names', 'describe_flip_map',
    'unpaired_handedness_words', 'HANDEDNESS_WORDS', 'CheckedRawFrameDecode',
    'CheckedDecordInit', 'CheckedDecordDecode'
]
