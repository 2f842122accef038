"""A synthetic temporal-reasoning video dataset, deterministic by seed.

Every class has a time-reversed twin: *moving something from left to
right* / *from right to left*, *up* / *down*, *growing* / *shrinking*,
*rotating clockwise* / *anticlockwise*, *getting brighter* / *darker*.
Each pair has its own object (square, disc, ring, bar, cross), so one frame
tells the pair; only the order of the frames tells the direction. Positions,
sizes, colours, gradient backgrounds and pixel noise are random.

Every rendered clip is written twice, forward with the first label of its
pair and reversed with the second, so each split holds exact time-reversed
twins. A model blind to frame order (one that sees a clip as a set of
frames, such as an all-1x3x3 ResNet with temporal average pooling) gets the
same input for both twins and so names at most one of them correctly: its
top-1 on such a split is at most :func:`order_blind_ceiling`, 50%.

Layout written under ``out_dir`` (the SthV1 and Kinetics conventions of
mmaction2)::

    classes.txt                          one class name per line
    rawframes/<vid>/00001.jpg ...        1-based JPEG frames
    {split}_list_rawframes.txt           '<vid> <num_frames> <label>'
    videos/<vid>.mp4                     MPEG-4 part 2, decodable by decord
    {split}_list_videos.txt              '<vid>.mp4 <label>'
"""
import hashlib
import os
import os.path as osp
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..media import write_frames, write_video
from .hard import HARD_CLASS_PAIRS, render_hard_clip, resolve_difficulty
from .render import CLASS_PAIRS, render_clip

__all__ = [
    'CLASS_PAIRS', 'SyntheticDataset', 'generate_synthetic_dataset',
    'order_blind_ceiling', 'render_clip'
]

_SPLIT_IDS = {'train': 0, 'val': 1, 'test': 2}


@dataclass(frozen=True)
class SyntheticDataset:
    """Paths of a generated dataset.

    Args:
        root (str): The output directory.
        class_file (str): ``classes.txt``.
        num_classes (int): Number of classes.
        num_frames (int): Frames per video.
        splits (tuple[str]): Split names, e.g. ``('train', 'val')``.
    """
    root: str
    class_file: str
    num_classes: int
    num_frames: int
    splits: Tuple[str, ...]

    @property
    def rawframes(self) -> str:
        """str: Root of the frame folders (``data_prefix.img``)."""
        return osp.join(self.root, 'rawframes')

    @property
    def videos(self) -> str:
        """str: Root of the mp4 files (``data_prefix.video``)."""
        return osp.join(self.root, 'videos')

    def rawframe_list(self, split: str) -> str:
        """The rawframes annotation file of a split.

        Args:
            split (str): ``'train'``, ``'val'`` or ``'test'``.

        Returns:
            str: Path of ``{split}_list_rawframes.txt``.
        """
        return osp.join(self.root, f'{split}_list_rawframes.txt')

    def video_list(self, split: str) -> str:
        """The video annotation file of a split.

        Args:
            split (str): ``'train'``, ``'val'`` or ``'test'``.

        Returns:
            str: Path of ``{split}_list_videos.txt``.
        """
        return osp.join(self.root, f'{split}_list_videos.txt')


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def _check_decodable(path: str, num_frames: int,
                     shape: Tuple[int, int]) -> None:
    """Decode a written video with decord, as the video pipelines will."""
    import decord
    try:
        reader = decord.VideoReader(path, num_threads=1)
        got = reader.get_batch(list(range(len(reader)))).asnumpy().shape
    except Exception as err:  # decord raises its own DECORDError
        raise RuntimeError(
            f'{path}: decord cannot decode the generated video '
            f'({str(err).splitlines()[0][:200]}); decord 0.6.0 fails on '
            'some frame widths (16, 24, 48, 72 px): pick another size'
        ) from err
    if got[0] != num_frames or tuple(got[1:3]) != tuple(shape):
        raise RuntimeError(
            f'{path}: decord decoded {got[0]} frames of {got[1:3]}, '
            f'expected {num_frames} frames of {tuple(shape)}')


def generate_synthetic_dataset(
        out_dir: str,
        num_per_class: Union[int, Dict[str, int]] = None,
        num_frames: int = 8,
        size: Union[int, Sequence[int]] = 32,
        seed: int = 0,
        formats: Sequence[str] = ('rawframes', 'videos'),
        num_pairs: Optional[int] = None,
        jpeg_quality: int = 95,
        fps: int = 8,
        progress: Optional[Callable[[str], None]] = None,
        benchmark: str = 'demo',
        max_frames: Optional[int] = None,
        difficulty: Union[str, Mapping, None] = None) -> SyntheticDataset:
    """Generate the dataset (deterministic for a given seed and sizes).

    Args:
        out_dir (str): Output directory (created).
        num_per_class (int | dict[str, int], optional): Videos per class
            and split (``'train'``, ``'val'``, ``'test'``); an int means
            the same for ``'train'`` and ``'val'``. Each rendered clip gives
            one video of both classes of its pair. Defaults to
            ``dict(train=40, val=20)``.
        num_frames (int): Frames per video. Defaults to 8.
        size (int | Sequence[int]): Frame size, ``S`` or ``(H, W)``.
            Defaults to 32.
        seed (int): Random seed. Defaults to 0.
        formats (Sequence[str]): Any of ``'rawframes'`` and ``'videos'``.
            Defaults to ``('rawframes', 'videos')``.
        num_pairs (int, optional): Use the first ``num_pairs`` of
            :data:`CLASS_PAIRS`. Defaults to all of them.
        jpeg_quality (int): JPEG quality of the frames. Defaults to 95.
        fps (int): Frame rate written into the mp4 files. Defaults to 8.
        progress (Callable[[str], None], optional): Called with one line
            per split. Defaults to None.
        benchmark (str): ``'demo'`` (the clips described above) or
            ``'hard'`` (:mod:`~cakes_mmaction.harness.synthetic.hard`:
            six pairs, object kind not tied to the pair, camera motion,
            distractors, random timing, blur, variable length).
            Defaults to ``'demo'``.
        max_frames (int, optional): ``'hard'`` only: each clip has between
            ``num_frames`` and ``max_frames`` frames. Defaults to
            ``num_frames * 3 // 2``.
        difficulty (str | Mapping, optional): ``'hard'`` only: the
            clutter, a preset (``'easy'``, ``'medium'``, ``'hard'``), a
            :class:`~cakes_mmaction.harness.synthetic.hard.HardDifficulty`
            or a mapping of its knobs over ``'hard'``. One seed renders the
            same motions at every difficulty. Defaults to None
            (``'hard'``, the benchmark's first release).

    Returns:
        SyntheticDataset: Where everything was written.
    """
    if num_per_class is None:
        num_per_class = dict(train=40, val=20)
    elif isinstance(num_per_class, int):
        num_per_class = dict(train=num_per_class, val=num_per_class)
    unknown = set(num_per_class) - set(_SPLIT_IDS)
    bad_formats = set(formats) - {'rawframes', 'videos'}
    if unknown or bad_formats:
        raise ValueError(f'unknown splits {sorted(unknown)} or formats '
                         f'{sorted(bad_formats)}; splits are '
                         f"{sorted(_SPLIT_IDS)}, formats 'rawframes', "
                         "'videos'")
    height, width = (size, size) if isinstance(size, int) else map(int, size)
    if min(height, width) < 16 or num_frames < 2:
        raise ValueError(f'frames must be at least 16x16 and clips at least '
                         f'2 frames long, got {height}x{width}, {num_frames}')
    if benchmark not in ('demo', 'hard'):
        raise ValueError(f"benchmark must be 'demo' or 'hard', got "
                         f'{benchmark!r}')
    hard = benchmark == 'hard'
    if hard:
        difficulty = resolve_difficulty(difficulty)
        if max_frames is None:
            max_frames = num_frames * 3 // 2
        if max_frames < num_frames:
            raise ValueError(f'max_frames ({max_frames}) must be >= '
                             f'num_frames ({num_frames})')
    elif max_frames is not None or difficulty is not None:
        what = ('max_frames (variable length)'
                if max_frames is not None else 'difficulty')
        raise ValueError(f"{what} needs benchmark='hard'")
    all_pairs = HARD_CLASS_PAIRS if hard else CLASS_PAIRS
    pairs = all_pairs[:num_pairs] if num_pairs else all_pairs
    os.makedirs(out_dir, exist_ok=True)
    class_file = osp.join(out_dir, 'classes.txt')
    with open(class_file, 'w') as f:
        f.writelines(f'{name}\n' for pair in pairs for name in pair[:2])
    data = SyntheticDataset(
        osp.abspath(out_dir), osp.abspath(class_file), 2 * len(pairs),
        num_frames, tuple(num_per_class))
    for split, count in num_per_class.items():
        frame_lines, video_lines = [], []
        for k, (_, _, motion, kind) in enumerate(pairs):
            for j in range(count):
                if hard:
                    # A stream of its own: 'hard' never reuses demo draws.
                    rng = np.random.default_rng(
                        [seed, _SPLIT_IDS[split], k, j, height, width,
                         num_frames, max_frames, 1])
                    length = int(rng.integers(num_frames, max_frames + 1))
                    clip = render_hard_clip(rng, motion, length, height,
                                            width, difficulty)
                else:
                    rng = np.random.default_rng(
                        [seed, _SPLIT_IDS[split], k, j, height, width,
                         num_frames])
                    length = num_frames
                    clip = render_clip(rng, motion, kind, num_frames,
                                       height, width)
                for label, frames in ((2 * k, clip), (2 * k + 1, clip[::-1])):
                    vid = f'{split}_{label:03d}_{j:05d}'
                    if 'rawframes' in formats:
                        write_frames(osp.join(data.rawframes, vid), frames,
                                     filename_tmpl='{:05d}.jpg',
                                     quality=jpeg_quality)
                        frame_lines.append(f'{vid} {length} {label}\n')
                    if 'videos' in formats:
                        path = osp.join(data.videos, f'{vid}.mp4')
                        os.makedirs(data.videos, exist_ok=True)
                        write_video(path, frames, fps=fps)
                        _check_decodable(path, length, (height, width))
                        video_lines.append(f'{vid}.mp4 {label}\n')
        if 'rawframes' in formats:
            with open(data.rawframe_list(split), 'w') as f:
                f.writelines(frame_lines)
        if 'videos' in formats:
            with open(data.video_list(split), 'w') as f:
                f.writelines(video_lines)
        if progress is not None:
            frames_text = f'{num_frames}-{max_frames}' if hard else \
                str(num_frames)
            progress(f'{split}: {count * data.num_classes} videos, '
                     f'{frames_text} frames of {height}x{width}, '
                     f'{data.num_classes} classes -> {out_dir}')
    return data


def order_blind_ceiling(ann_file: str,
                        frames_root: str,
                        filename_tmpl: str = '{:05}.jpg',
                        start_index: int = 1) -> Tuple[float, int, int]:
    """Best top-1 a model blind to frame order can reach on a rawframe list.

    Videos whose frames are the same multiset of images (byte-identical
    files, in any order) are one input to such a model, so it names one
    class for all of them and gets at most the largest class of each group
    right. This is exact when the test clip covers every frame (as in the
    demo configs: 8 sampled of 8 frames), and an independent check of the
    generator: it reads the files, not the generator's bookkeeping.

    Args:
        ann_file (str): ``'<vid> <num_frames> <label>'`` lines.
        frames_root (str): Directory holding the ``<vid>`` folders.
        filename_tmpl (str): Frame file template. Defaults to
            ``'{:05}.jpg'``.
        start_index (int): Index of the first frame. Defaults to 1.

    Returns:
        tuple[float, int, int]: The ceiling (0-1), the number of videos and
        the number of order-blind groups.
    """
    groups: Dict[Tuple[str, ...], Counter] = defaultdict(Counter)
    total = 0
    with open(ann_file) as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 3:
                raise ValueError(f'{ann_file}:{line_no}: expected '
                                 f"'<vid> <num_frames> <label>', got {line!r}")
            vid, num, label = parts[0], int(parts[1]), int(parts[2])
            digests = []
            for i in range(start_index, start_index + num):
                path = osp.join(frames_root, vid, filename_tmpl.format(i))
                with open(path, 'rb') as img:
                    digests.append(hashlib.sha1(img.read()).hexdigest())
            groups[tuple(sorted(digests))][label] += 1
            total += 1
    if total == 0:
        raise ValueError(f'{ann_file}: no videos listed')
    best = sum(max(c.values()) for c in groups.values())
    return best / total, total, len(groups)
