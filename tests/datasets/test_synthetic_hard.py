"""The hard synthetic benchmark, and the demo dataset left unchanged."""
import hashlib
import os

import numpy as np
import pytest

from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
from cakes_mmaction.harness.synthetic.hard import (HARD_CLASS_PAIRS,
                                                   HARD_KINDS,
                                                   render_hard_clip)


def _digest(folder):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, folder).encode())
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def test_demo_dataset_is_unchanged(tmp_path):
    """The demo's files, byte for byte, as before the hard benchmark (the
    digest of the generator of the previous release, same arguments)."""
    generate_synthetic_dataset(
        str(tmp_path), num_per_class=dict(train=2, val=1, test=1), size=24,
        formats=('rawframes', ))
    assert _digest(str(tmp_path)) == (
        '8f08cb788a98fc8956d23ae6d3e680c102445a4425b3bff32d2a0b0c850fd016')


@pytest.mark.parametrize('motion', sorted(HARD_KINDS))
def test_every_motion_renders_and_moves(motion):
    clip = render_hard_clip(np.random.default_rng(0), motion, 9, 32, 40)
    assert clip.shape == (9, 32, 40, 3) and clip.dtype == np.uint8
    again = render_hard_clip(np.random.default_rng(0), motion, 9, 32, 40)
    assert np.array_equal(clip, again)
    first, last = clip[0].astype(float), clip[-1].astype(float)
    assert np.abs(first - last).mean() > 3  # the scene changes


def test_hard_dataset_layout(tmp_path):
    data = generate_synthetic_dataset(
        str(tmp_path), num_per_class=dict(train=3, test=2), size=16,
        num_frames=6, max_frames=9, formats=('rawframes', ),
        benchmark='hard')
    assert data.num_classes == 2 * len(HARD_CLASS_PAIRS) == 12
    with open(data.class_file) as f:
        names = f.read().splitlines()
    assert names[10:] == ['moving something in a circle clockwise',
                          'moving something in a circle anticlockwise']
    lengths = {}
    with open(data.rawframe_list('train')) as f:
        for line in f:
            vid, n, label = line.split()
            assert 6 <= int(n) <= 9
            assert len(os.listdir(os.path.join(data.rawframes, vid))) == \
                int(n)
            lengths[vid] = int(n)
    assert len(set(lengths.values())) > 1  # variable length
    # Time-reversed twins: same length, frames in reverse order.
    fwd = os.path.join(data.rawframes, 'train_010_00001')
    rev = os.path.join(data.rawframes, 'train_011_00001')
    n = lengths['train_010_00001']
    assert lengths['train_011_00001'] == n
    for i in range(1, n + 1):
        with open(os.path.join(fwd, f'{i:05d}.jpg'), 'rb') as a, open(
                os.path.join(rev, f'{n + 1 - i:05d}.jpg'), 'rb') as b:
            assert a.read() == b.read()


def test_hard_dataset_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="benchmark must be 'demo' or "
                       "'hard'"):
        generate_synthetic_dataset(str(tmp_path), benchmark='harder')
    with pytest.raises(ValueError, match=r'max_frames \(4\) must be >= '
                       r'num_frames \(8\)'):
        generate_synthetic_dataset(str(tmp_path), benchmark='hard',
                                   max_frames=4)
    with pytest.raises(ValueError, match="needs benchmark='hard'"):
        generate_synthetic_dataset(str(tmp_path), max_frames=12)
    with pytest.raises(ValueError, match='unknown motion'):
        render_hard_clip(np.random.default_rng(0), 'jump', 4, 16, 16)
