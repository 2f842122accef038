"""The hard synthetic benchmark, and the demo dataset left unchanged."""
import hashlib
import os
import sys

import numpy as np
import pytest

from cakes_mmaction.harness.synthetic import generate_synthetic_dataset
from cakes_mmaction.harness.synthetic.hard import (DIFFICULTIES,
                                                   HARD_CLASS_PAIRS,
                                                   HARD_KINDS, HardDifficulty,
                                                   render_hard_clip,
                                                   resolve_difficulty)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


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


# Digests of the benchmark's first release (the generator before the
# difficulty settings, same arguments): 'hard' must stay byte for byte.
HARD_DATASET_DIGEST = (
    '97f7e942769318d2cb441f29a94b758dce5492427df114466dd4f288ceb81bd2')
HARD_CLIPS_DIGEST = (
    'c7efc85b40ee8606596d559c808b6b57c90ae05667ebfc78d9e09ce771c933c1')


def _hard_clips_digest(**kwargs):
    h = hashlib.sha256()
    for motion in sorted(HARD_KINDS):
        clip = render_hard_clip(np.random.default_rng(3), motion, 9, 32, 40,
                                **kwargs)
        h.update(clip.tobytes())
    return h.hexdigest()


@pytest.mark.parametrize('difficulty', [None, 'hard', {}, HardDifficulty()])
def test_hard_difficulty_is_the_first_release(tmp_path, difficulty):
    assert _hard_clips_digest(difficulty=difficulty) == HARD_CLIPS_DIGEST
    generate_synthetic_dataset(
        str(tmp_path), num_per_class=dict(train=1, test=1), size=16,
        num_frames=6, max_frames=9, formats=('rawframes', ),
        benchmark='hard', difficulty=difficulty)
    assert _digest(str(tmp_path)) == HARD_DATASET_DIGEST


def _still_background_change(clip):
    """Mean absolute change between consecutive frames."""
    return np.abs(np.diff(clip.astype(float), axis=0)).mean()


def test_difficulties_order_the_clutter():
    """One seed, one motion: easier settings change the scene less between
    frames (less noise, camera and distractor motion), and 'easy' has no
    camera motion, noise, blur or distractors at all."""
    change = {}
    for name in ('easy', 'medium', 'hard'):
        change[name] = np.mean([
            _still_background_change(
                render_hard_clip(np.random.default_rng(s), 'brightness', 8,
                                 32, 32, name)) for s in range(4)
        ])
    assert change['easy'] < change['medium'] < change['hard']
    easy = DIFFICULTIES['easy']
    assert easy.distractors == (0, 0) and easy.camera == 0 == easy.blur
    # Without noise, camera motion and distractors the corners (far from
    # the centred object) stay still while the object changes brightness.
    clip = render_hard_clip(np.random.default_rng(0), 'brightness', 8, 32,
                            32, easy._replace(noise=(0.0, 0.0)))
    assert np.array_equal(clip[0, :3, :3], clip[-1, :3, :3])
    assert not np.array_equal(clip[0], clip[-1])


def test_difficulty_knobs_override_a_preset():
    knobs = resolve_difficulty('easy', dict(noise=[1, 2], distractors=[2, 2]))
    assert knobs == DIFFICULTIES['easy']._replace(noise=(1.0, 2.0),
                                                  distractors=(2, 2))
    assert resolve_difficulty(dict(camera=0.0)) == HardDifficulty(camera=0.0)
    # Exactly two distractors: the clip differs from the preset's.
    a = render_hard_clip(np.random.default_rng(0), 'scale', 6, 24, 24,
                         'easy')
    b = render_hard_clip(np.random.default_rng(0), 'scale', 6, 24, 24,
                         dict(DIFFICULTIES['easy']._asdict(),
                              distractors=(2, 2)))
    assert not np.array_equal(a, b)


@pytest.mark.parametrize('difficulty,match', [
    ('trivial', 'unknown difficulty'),
    (dict(clutter=1), 'unknown difficulty knobs'),
    (dict(noise=(5, 1)), "'noise' must be a pair 0 <= low <= high"),
    (dict(distractors=(0.5, 1)), "'distractors' must be whole"),
    (dict(camera=1.5), r"'camera' must be in \[0, 1\]"),
    (dict(coverage=0), r"'coverage' must be in \(0, 1\]"),
    (dict(blur=-1), "'blur' must be >= 0"),
])
def test_bad_difficulty(tmp_path, difficulty, match):
    with pytest.raises(ValueError, match=match):
        render_hard_clip(np.random.default_rng(0), 'scale', 4, 16, 16,
                         difficulty)
    with pytest.raises(ValueError, match=match):
        generate_synthetic_dataset(str(tmp_path), benchmark='hard',
                                   difficulty=difficulty)
    with pytest.raises(ValueError, match="difficulty needs "
                       "benchmark='hard'"):
        generate_synthetic_dataset(str(tmp_path), difficulty='easy')


def test_generator_cli_difficulty(tmp_path):
    """The CLI's preset and knobs give the library's dataset."""
    sys.path.insert(0, os.path.join(ROOT, 'tools', 'data'))
    try:
        import generate_synthetic
    finally:
        sys.path.pop(0)
    common = ['--train-per-class', '1', '--val-per-class', '0', '--size',
              '16', '--frames', '4', '--formats', 'rawframes',
              '--benchmark', 'hard']
    generate_synthetic.main([str(tmp_path / 'cli')] + common + [
        '--difficulty', 'medium', '--noise', '0', '1', '--camera', '0'])
    generate_synthetic_dataset(
        str(tmp_path / 'api'), num_per_class=dict(train=1, val=0), size=16,
        num_frames=4, formats=('rawframes', ), benchmark='hard',
        difficulty=DIFFICULTIES['medium']._replace(noise=(0.0, 1.0),
                                                   camera=0.0))
    assert _digest(str(tmp_path / 'cli')) == _digest(str(tmp_path / 'api'))
    generate_synthetic.main([str(tmp_path / 'default')] + common)
    generate_synthetic.main([str(tmp_path / 'hard')] + common +
                            ['--difficulty', 'hard'])
    assert _digest(str(tmp_path / 'default')) == _digest(
        str(tmp_path / 'hard')) != _digest(str(tmp_path / 'cli'))
