"""Rendering of the synthetic clips: signed distance of each object,
anti-aliased coverage, random scenes moving along one motion.
"""
from typing import Dict, Tuple

import numpy as np

__all__ = ['CLASS_PAIRS', 'render_clip']

#: (forward name, reversed name, motion, object) for each class pair; the
#: class index of pair k is 2k forward and 2k + 1 reversed. The names use
#: Something-Something wording, so the left/right flip map of
#: :class:`~cakes_mmaction.harness.datasets.transforms.ClassNameFlip` applies.
CLASS_PAIRS: Tuple[Tuple[str, str, str, str], ...] = (
    ('moving something from left to right',
     'moving something from right to left', 'translate_x', 'square'),
    ('moving something up', 'moving something down', 'translate_y', 'disc'),
    ('something growing', 'something shrinking', 'scale', 'ring'),
    ('rotating something clockwise', 'rotating something anticlockwise',
     'rotate', 'bar'),
    ('something getting brighter', 'something getting darker', 'brightness',
     'cross'),
)


def _sdf(kind: str, x: np.ndarray, y: np.ndarray, cx: float, cy: float,
         r: float, angle: float) -> np.ndarray:
    """Signed distance (pixels) to an object of radius ``r`` at (cx, cy)."""
    dx, dy = x - cx, y - cy
    if kind == 'disc':
        return np.hypot(dx, dy) - r
    if kind == 'ring':
        return np.abs(np.hypot(dx, dy) - r) - max(1.0, 0.3 * r)
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    if kind == 'square':
        return np.maximum(np.abs(u), np.abs(v)) - r
    half = max(0.8, 0.18 * r)  # half thickness of a bar / cross arm
    bar = np.maximum(np.abs(u) - r, np.abs(v) - half)
    if kind == 'bar':
        return bar
    if kind == 'cross':
        return np.minimum(bar, np.maximum(np.abs(v) - r, np.abs(u) - half))
    raise ValueError(f'unknown object kind {kind!r}')


def _contrasting_colour(rng: np.random.Generator,
                        background: np.ndarray) -> np.ndarray:
    """A random colour at least 100 (of 255) away from ``background``."""
    while True:
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - background) >= 100:
            return colour


def _scene(rng: np.random.Generator, motion: str, kind: str, height: int,
           width: int) -> Dict[str, object]:
    """Draw the random parameters of one clip (forward direction)."""
    side = min(height, width)
    background = rng.uniform(30, 225, 3)
    scene = dict(
        kind=kind,
        background=background,
        gradient=rng.uniform(-40, 40, 3),
        gradient_angle=rng.uniform(0, 2 * np.pi),
        colour=_contrasting_colour(rng, background),
        noise=rng.uniform(3, 10),
        angle=(rng.uniform(0, np.pi / 2), ) * 2,
        gain=(1.0, 1.0))
    r = rng.uniform(0.09, 0.14) * side
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    if motion in ('translate_x', 'translate_y'):
        extent = width if motion == 'translate_x' else height
        travel = rng.uniform(0.35, 0.55) * extent
        start = rng.uniform(r + 1, extent - r - 1 - travel)
        # y grows downwards: 'up' is a decreasing y.
        path = (start, start + travel) if motion == 'translate_x' else (
            start + travel, start)
        key = 'cx' if motion == 'translate_x' else 'cy'
        scene.update({key: path, 'r': (r, r)})
        scene.setdefault('cx', (cx, cx))
        scene.setdefault('cy', (cy, cy))
    elif motion == 'scale':
        r0 = rng.uniform(0.07, 0.1) * side
        scene.update(cx=(cx, cx), cy=(cy, cy),
                     r=(r0, r0 * rng.uniform(2.0, 2.8)))
    elif motion == 'rotate':
        # Image y points down, so an increasing angle turns clockwise; a
        # bar is 180-degree symmetric, so keep well under 90 deg per frame.
        a0 = rng.uniform(0, np.pi)
        turn = rng.uniform(np.pi / 3, 2 * np.pi / 3)
        scene.update(cx=(cx, cx), cy=(cy, cy), r=(2.2 * r, 2.2 * r),
                     angle=(a0, a0 + turn))
    elif motion == 'brightness':
        g0 = rng.uniform(0.3, 0.5)
        scene.update(cx=(cx, cx), cy=(cy, cy), r=(1.6 * r, 1.6 * r),
                     gain=(g0, g0 * rng.uniform(2.0, 2.6)))
    else:
        raise ValueError(f'unknown motion {motion!r}')
    return scene


def _lerp(pair: Tuple[float, float], t: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * t


def render_clip(rng: np.random.Generator, motion: str, kind: str,
                num_frames: int, height: int, width: int) -> np.ndarray:
    """Render one random clip of a motion in its forward direction.

    Args:
        rng (np.random.Generator): Source of all randomness.
        motion (str): ``'translate_x'``, ``'translate_y'``, ``'scale'``,
            ``'rotate'`` or ``'brightness'``.
        kind (str): ``'square'``, ``'disc'``, ``'ring'``, ``'bar'`` or
            ``'cross'``.
        num_frames (int): Frames in the clip.
        height (int): Frame height.
        width (int): Frame width.

    Returns:
        np.ndarray: ``num_frames x height x width x 3`` uint8, RGB.
    """
    s = _scene(rng, motion, kind, height, width)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    a = s['gradient_angle']
    ramp = (x * np.cos(a) + y * np.sin(a)) / max(height, width) - 0.5
    base = s['background'] + ramp[..., None] * s['gradient']
    frames = []
    for i in range(num_frames):
        t = i / max(num_frames - 1, 1)
        sdf = _sdf(s['kind'], x, y, _lerp(s['cx'], t), _lerp(s['cy'], t),
                   _lerp(s['r'], t), _lerp(s['angle'], t))
        cover = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
        frame = base * (1 - cover) + s['colour'] * cover
        frame = frame * _lerp(s['gain'], t)
        frame = frame + rng.normal(0, s['noise'], frame.shape)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return np.stack(frames)
