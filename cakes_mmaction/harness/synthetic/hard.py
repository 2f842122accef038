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

How much clutter there is, is a :class:`HardDifficulty` (distractor count,
noise, camera motion, action coverage, blur, background texture);
:data:`DIFFICULTIES` names three presets. ``'hard'`` is the default and
renders exactly the clips of the benchmark's first release; ``'medium'``
and ``'easy'`` turn the knobs down but keep the per-clip object kind, the
orbit pair, the random timing and the variable length.

:func:`render_hard_clip` draws one clip; ``generate_synthetic_dataset(...,
benchmark='hard', difficulty=...)`` writes a dataset of them
(``tools/data/generate_synthetic.py --benchmark hard --difficulty ...``).
"""
from typing import Dict, Mapping, NamedTuple, Optional, Tuple, Union

import cv2
import numpy as np

from .render import CLASS_PAIRS, _contrasting_colour, _lerp, _sdf

__all__ = [
    'HARD_CLASS_PAIRS', 'render_hard_clip', 'HARD_KINDS', 'HardDifficulty',
    'DIFFICULTIES', 'resolve_difficulty'
]

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


class HardDifficulty(NamedTuple):
    """How cluttered the clips of the hard benchmark are.

    Every range is drawn uniformly per clip; a knob set to zero still
    consumes its random draws, so two difficulties with one seed render
    the same motions, objects and timing.

    Args:
        distractors (tuple[int, int]): Fewest and most distractors.
        noise (tuple[float, float]): Range of the pixel noise sigma.
        camera (float): Camera pan amplitude, a fraction (0-1) of the
            background margin (an eighth of the frame side).
        coverage (float): Shortest action, a fraction (0-1] of the clip.
        blur (float): Largest Gaussian blur sigma in pixels.
        texture (tuple[float, float]): Range of the background texture's
            amplitude in grey levels.
    """
    distractors: Tuple[int, int] = (1, 3)
    noise: Tuple[float, float] = (4.0, 12.0)
    camera: float = 0.8
    coverage: float = 0.4
    blur: float = 1.0
    texture: Tuple[float, float] = (15.0, 35.0)


#: Named difficulties; ``'hard'`` is the benchmark's first release.
DIFFICULTIES: Dict[str, HardDifficulty] = {
    'hard': HardDifficulty(),
    'medium': HardDifficulty(distractors=(0, 2), noise=(2.0, 6.0),
                             camera=0.4, coverage=0.6, blur=0.6,
                             texture=(10.0, 25.0)),
    'easy': HardDifficulty(distractors=(0, 0), noise=(0.0, 3.0),
                           camera=0.0, coverage=0.8, blur=0.0,
                           texture=(5.0, 15.0)),
}

_PAIR_KNOBS = ('distractors', 'noise', 'texture')


def resolve_difficulty(
        difficulty: Union[str, HardDifficulty, Mapping, None] = None,
        overrides: Optional[Mapping] = None) -> HardDifficulty:
    """A checked :class:`HardDifficulty` from a preset name and overrides.

    Args:
        difficulty (str | HardDifficulty | Mapping, optional): A name of
            :data:`DIFFICULTIES`, a difficulty, or a mapping of knobs over
            ``'hard'``. Defaults to None (``'hard'``).
        overrides (Mapping, optional): Knobs replacing those of
            ``difficulty``. Defaults to None.

    Returns:
        HardDifficulty: The knobs, ranges as ``(low, high)`` tuples.

    Raises:
        ValueError: An unknown preset or knob, or a value out of range.
    """
    if difficulty is None:
        difficulty = 'hard'
    if isinstance(difficulty, str):
        if difficulty not in DIFFICULTIES:
            raise ValueError(f'unknown difficulty {difficulty!r}; expected '
                             f'one of {sorted(DIFFICULTIES)}')
        base = DIFFICULTIES[difficulty]
    elif isinstance(difficulty, HardDifficulty):
        base = difficulty
    else:
        base, overrides = HardDifficulty(), {**difficulty,
                                             **(overrides or {})}
    knobs = dict(overrides or {})
    unknown = set(knobs) - set(HardDifficulty._fields)
    if unknown:
        raise ValueError(f'unknown difficulty knobs {sorted(unknown)}; '
                         f'expected some of {list(HardDifficulty._fields)}')
    out = base._replace(**knobs)
    for name in _PAIR_KNOBS:
        value = getattr(out, name)
        if (not isinstance(value, (tuple, list)) or len(value) != 2
                or not 0 <= value[0] <= value[1]):
            raise ValueError(f'difficulty knob {name!r} must be a pair '
                             f'0 <= low <= high, got {value!r}')
    if any(int(v) != v for v in out.distractors):
        raise ValueError(f"difficulty knob 'distractors' must be whole "
                         f'numbers, got {out.distractors!r}')
    if not 0 <= out.camera <= 1:
        raise ValueError(f"difficulty knob 'camera' must be in [0, 1] (a "
                         f'fraction of the margin), got {out.camera!r}')
    if not 0 < out.coverage <= 1:
        raise ValueError(f"difficulty knob 'coverage' must be in (0, 1], "
                         f'got {out.coverage!r}')
    if out.blur < 0:
        raise ValueError(f"difficulty knob 'blur' must be >= 0, got "
                         f'{out.blur!r}')
    return out._replace(
        distractors=tuple(int(v) for v in out.distractors),
        noise=tuple(float(v) for v in out.noise),
        texture=tuple(float(v) for v in out.texture))


def _texture(rng: np.random.Generator, height: int, width: int,
             margin: int) -> np.ndarray:
    """A smooth random texture larger than the frame by ``margin``."""
    h, w = height + 2 * margin, width + 2 * margin
    coarse = rng.normal(0, 1, (max(2, h // 6), max(2, w // 6), 3))
    tex = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return tex / (np.abs(tex).max() + 1e-6)


def _action_time(rng: np.random.Generator, coverage: float):
    """A random window of the clip, at least ``coverage`` of it, in which
    the action happens."""
    span = rng.uniform(coverage, 1.0)
    start = rng.uniform(0.0, 1.0 - span)
    # An exponent != 1 speeds the action up or slows it down over time.
    power = np.exp(rng.uniform(-0.5, 0.5))

    def progress(t: float) -> float:
        return float(np.clip((t - start) / span, 0.0, 1.0)**power)

    return progress


def render_hard_clip(rng: np.random.Generator, motion: str,
                     num_frames: int, height: int,
                     width: int,
                     difficulty: Union[str, HardDifficulty, Mapping,
                                       None] = None) -> np.ndarray:
    """Render one clip of the hard benchmark in its forward direction.

    Args:
        rng (np.random.Generator): Source of all randomness.
        motion (str): A motion of :data:`HARD_CLASS_PAIRS`.
        num_frames (int): Frames in the clip.
        height (int): Frame height.
        width (int): Frame width.
        difficulty (str | HardDifficulty | Mapping, optional): The
            clutter (see :func:`resolve_difficulty`). Defaults to None
            (``'hard'``).

    Returns:
        np.ndarray: ``num_frames x height x width x 3`` uint8, RGB.
    """
    if motion not in HARD_KINDS:
        raise ValueError(f'unknown motion {motion!r}; expected one of '
                         f'{sorted(HARD_KINDS)}')
    knobs = resolve_difficulty(difficulty)
    side = min(height, width)
    kind = HARD_KINDS[motion][rng.integers(len(HARD_KINDS[motion]))]
    margin = max(2, side // 8)
    background = rng.uniform(50, 205, 3)
    texture = background + _texture(rng, height, width, margin) * \
        rng.uniform(*knobs.texture)
    colour = _contrasting_colour(rng, background)
    noise = rng.uniform(*knobs.noise)
    blur = rng.uniform(0.0, knobs.blur)
    progress = _action_time(rng, knobs.coverage)
    # Camera: a smooth pan of up to `knobs.camera * margin` pixels each
    # way (at most the margin, so the view stays inside the texture).
    pan0, pan1 = rng.uniform(-margin, margin, (2, 2)) * knobs.camera

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
    low, high = knobs.distractors
    for _ in range(rng.integers(low, high + 1)):
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
