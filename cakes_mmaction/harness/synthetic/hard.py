"""The harder synthetic benchmark: the demo's motions in a cluttered scene.

The demo dataset (:mod:`~cakes_mmaction.harness.synthetic.generator`) is nearly
solved by any network that sees time: one object per pair names the pair,
the motion spans the whole clip, the camera is still. This benchmark keeps
its design (classes in time-reversed pairs, every clip written forward and
reversed, Something-Something wording) and takes those crutches away:

- **the object does not name the pair**: its kind is drawn per clip among
  those on which the motion is visible (a disc cannot be seen rotating);
- **a sixth pair**, moving something in a circle clockwise /
  anticlockwise, which shares its object kinds and its rotation sense with
  the rotation pair;
- **random start and speed**: the action runs over a random part of the
  clip (40-100% of it, anywhere), still before and after;
- **camera motion**: the whole scene (textured background included) pans
  along a random smooth path;
- **distractors**: one to three small low-contrast objects drifting in
  random directions;
- **blur and noise**: a random Gaussian blur per clip and pixel noise;
- **variable length**: each clip has its own number of frames.

:func:`render_hard_clip` draws one clip; ``generate_synthetic_dataset(...,
benchmark='hard')`` writes a dataset of them (``tools/data/
generate_synthetic.py --benchmark hard``).
"""
from typing import Dict, Tuple

import cv2
import numpy as np

from .generator import CLASS_PAIRS
from .render import _contrasting_colour, _lerp, _sdf

__all__ = ['HARD_CLASS_PAIRS', 'render_hard_clip', 'HARD_KINDS']

#: The demo's five pairs plus an orbit pair, as (forward name, reversed
#: name, motion, object); the object is only a default, since the hard
#: clips draw it per clip.
HARD_CLASS_PAIRS: Tuple[Tuple[str, str, str, str], ...] = CLASS_PAIRS + (
    ('moving something in a circle clockwise',
     'moving something in a circle anticlockwise', 'orbit', 'square'), )

#: Object kinds on which each motion is visible.
HARD_KINDS: Dict[str, Tuple[str, ...]] = {
    'translate_x': ('square', 'disc', 'ring', 'bar', 'cross'),
    'translate_y': ('square', 'disc', 'ring', 'bar', 'cross'),
    'scale': ('square', 'disc', 'ring', 'cross'),
    'rotate': ('bar', 'cross', 'square'),
    'brightness': ('square', 'disc', 'ring', 'bar', 'cross'),
    'orbit': ('square', 'disc', 'ring', 'bar', 'cross'),
}


def _texture(rng: np.random.Generator, height: int, width: int,
             margin: int) -> np.ndarray:
    """A smooth random texture larger than the frame by ``margin``."""
    h, w = height + 2 * margin, width + 2 * margin
    coarse = rng.normal(0, 1, (max(2, h // 6), max(2, w // 6), 3))
    tex = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return tex / (np.abs(tex).max() + 1e-6)


def _action_time(rng: np.random.Generator):
    """A random window of the clip in which the action happens."""
    span = rng.uniform(0.4, 1.0)
    start = rng.uniform(0.0, 1.0 - span)
    # An exponent != 1 speeds the action up or slows it down over time.
    power = np.exp(rng.uniform(-0.5, 0.5))

    def progress(t: float) -> float:
        return float(np.clip((t - start) / span, 0.0, 1.0)**power)

    return progress


def render_hard_clip(rng: np.random.Generator, motion: str,
                     num_frames: int, height: int,
                     width: int) -> np.ndarray:
    """Render one clip of the hard benchmark in its forward direction.

    Args:
        rng (np.random.Generator): Source of all randomness.
        motion (str): A motion of :data:`HARD_CLASS_PAIRS`.
        num_frames (int): Frames in the clip.
        height (int): Frame height.
        width (int): Frame width.

    Returns:
        np.ndarray: ``num_frames x height x width x 3`` uint8, RGB.
    """
    if motion not in HARD_KINDS:
        raise ValueError(f'unknown motion {motion!r}; expected one of '
                         f'{sorted(HARD_KINDS)}')
    side = min(height, width)
    kind = HARD_KINDS[motion][rng.integers(len(HARD_KINDS[motion]))]
    margin = max(2, side // 8)
    background = rng.uniform(50, 205, 3)
    texture = background + _texture(rng, height, width, margin) * \
        rng.uniform(15, 35)
    colour = _contrasting_colour(rng, background)
    noise = rng.uniform(4, 12)
    blur = rng.uniform(0.0, 1.0)
    progress = _action_time(rng)
    # Camera: a smooth pan of up to `margin` pixels each way.
    pan0, pan1 = rng.uniform(-margin, margin, (2, 2)) * 0.8

    r = rng.uniform(0.10, 0.15) * side
    cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.35, 0.65) * height
    angle0 = rng.uniform(0, np.pi)
    state = dict(cx=(cx, cx), cy=(cy, cy), r=(r, r), angle=(angle0, angle0),
                 gain=(1.0, 1.0))
    if motion in ('translate_x', 'translate_y'):
        extent = width if motion == 'translate_x' else height
        travel = rng.uniform(0.3, 0.5) * extent
        start = rng.uniform(r + 1, extent - r - 1 - travel)
        if motion == 'translate_x':
            state['cx'] = (start, start + travel)
        else:  # 'up': y decreases
            state['cy'] = (start + travel, start)
    elif motion == 'scale':
        r0 = rng.uniform(0.07, 0.1) * side
        state['r'] = (r0, r0 * rng.uniform(1.8, 2.5))
    elif motion == 'rotate':
        turn = rng.uniform(np.pi / 3, 2 * np.pi / 3)
        state['r'] = (2.0 * r, 2.0 * r)
        state['angle'] = (angle0, angle0 + turn)
    elif motion == 'brightness':
        g0 = rng.uniform(0.35, 0.55)
        state['r'] = (1.5 * r, 1.5 * r)
        state['gain'] = (g0, min(1.0, g0 * rng.uniform(1.8, 2.4)))
    elif motion == 'orbit':
        # Image y points down: an increasing polar angle turns clockwise.
        orbit = rng.uniform(0.18, 0.24) * side
        phi0 = rng.uniform(0, 2 * np.pi)
        sweep = rng.uniform(0.7 * np.pi, 1.2 * np.pi)
        state['phi'] = (phi0, phi0 + sweep)
        state['centre'] = (width / 2 + rng.uniform(-2, 2),
                           height / 2 + rng.uniform(-2, 2), orbit)
        state['r'] = (0.8 * r, 0.8 * r)

    distractors = []
    for _ in range(rng.integers(1, 4)):
        d_bg = texture[margin + height // 2, margin + width // 2]
        d_col = d_bg + (colour - d_bg) * rng.uniform(0.3, 0.6)
        p0 = rng.uniform(0.1, 0.9, 2) * (width, height)
        step = rng.normal(0, 0.25, 2) * side
        distractors.append(
            (HARD_KINDS['translate_x'][rng.integers(5)], p0, p0 + step,
             rng.uniform(0.04, 0.07) * side, rng.uniform(0, np.pi), d_col))

    y, x = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    frames = []
    for i in range(num_frames):
        t = i / max(num_frames - 1, 1)
        p = progress(t)
        ox, oy = _lerp(tuple(pan0), t), _lerp(tuple(pan1), t)
        top, left = int(round(margin + oy)), int(round(margin + ox))
        frame = texture[top:top + height, left:left + width].copy()
        # Scene coordinates move with the camera.
        sx, sy = x + (left - margin), y + (top - margin)
        for d_kind, q0, q1, d_r, d_a, d_col in distractors:
            q = q0 + (q1 - q0) * t
            sdf = _sdf(d_kind, sx, sy, q[0], q[1], d_r, d_a)
            cover = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
            frame = frame * (1 - cover) + d_col * cover
        if motion == 'orbit':
            phi = _lerp(state['phi'], p)
            ccx, ccy, rad = state['centre']
            ocx, ocy = ccx + rad * np.cos(phi), ccy + rad * np.sin(phi)
        else:
            ocx, ocy = _lerp(state['cx'], p), _lerp(state['cy'], p)
        sdf = _sdf(kind, sx, sy, ocx, ocy, _lerp(state['r'], p),
                   _lerp(state['angle'], p))
        cover = np.clip(0.5 - sdf, 0.0, 1.0)[..., None]
        gain = _lerp(state['gain'], p)
        frame = frame * (1 - cover) + colour * gain * cover
        if blur > 0.3:
            frame = cv2.GaussianBlur(frame, (0, 0), blur)
        frame = frame + rng.normal(0, noise, frame.shape)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return np.stack(frames)
