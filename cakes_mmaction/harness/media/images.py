"""Integrity checks of frames, shared by the datasets and the checker.

Decoders are lenient with damaged files, so success of a decode is not
proof of a good sample: a JPEG cut short decodes with OpenCV 4 and
``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` as an image whose missing rows are
grey, and OpenCV 5 returns ``None``, which mmaction2's ``RawFrameDecode``
hands on until something fails far away without a file name. The checks
here look at the bytes: JPEG start/end markers, PNG ``IEND``, then
(optionally) a full decode.

Each check returns ``None`` when the file is good, or a one-line reason.
"""
import os
import os.path as osp
import re
from typing import List, Optional

__all__ = [
    'image_bytes_problem', 'check_image_file', 'check_image_bytes',
    'decode_image_file', 'frame_path', 'count_frames'
]

_JPEG_SOI = b'\xff\xd8'
_JPEG_EOI = b'\xff\xd9'
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
_TAIL = 64


def image_bytes_problem(head: bytes, tail: bytes, ext: str) -> Optional[str]:
    """Byte-level check of a frame from its first and last bytes.

    The one implementation of the frame byte check: the checker and the
    robust datasets read the bytes from the file, the checked decoders
    (:class:`~cakes_mmaction.harness.datasets.transforms.CheckedRawFrameDecode`)
    look at the bytes they have read anyway to decode.

    Args:
        head (bytes): The first (at least 8) bytes.
        tail (bytes): The last (up to 64) bytes.
        ext (str): The file extension, e.g. ``'.jpg'``.

    Returns:
        str | None: Why the frame is bad, or None.
    """
    ext = ext.lower()
    if not head and not tail:
        return 'empty frame file (0 bytes)'
    if ext not in ('.jpg', '.jpeg', '.png'):
        return None
    if ext == '.png':
        if not head.startswith(_PNG_MAGIC):
            return 'not a PNG file (bad signature)'
        if b'IEND' not in tail[-12:]:
            return 'truncated PNG: no IEND chunk at the end'
        return None
    if not head.startswith(_JPEG_SOI):
        return (f'not a JPEG file (starts with {head[:2].hex()}, expected '
                'ffd8)')
    # Writers may pad after the end-of-image marker; 0xFF 0xD9 cannot occur
    # inside entropy-coded data (0xFF is always stuffed there), so finding
    # it at the end after stripping padding means the scan data is whole.
    if not tail.rstrip(b'\x00\r\n ').endswith(_JPEG_EOI):
        return ('truncated JPEG: no end-of-image marker (ffd9); decoders '
                'return grey rows or nothing for the missing part')
    return None


def check_image_file(path: str) -> Optional[str]:
    """Cheap byte-level check of one frame file.

    Reads the first 8 and last 64 bytes only (see
    :func:`image_bytes_problem`).

    Args:
        path (str): The frame file.

    Returns:
        str | None: Why the file is bad, or None.
    """
    try:
        size = os.path.getsize(path)
    except OSError:
        return 'missing frame file'
    if size == 0:
        return 'empty frame file (0 bytes)'
    ext = osp.splitext(path)[1]
    if ext.lower() not in ('.jpg', '.jpeg', '.png'):
        return None
    with open(path, 'rb') as f:
        head = f.read(8)
        f.seek(max(0, size - _TAIL))
        tail = f.read()
    return image_bytes_problem(head, tail, ext)


def check_image_bytes(data: bytes, path: str) -> Optional[str]:
    """:func:`check_image_file` on bytes already read.

    Args:
        data (bytes): The whole file.
        path (str): Its path (for the extension).

    Returns:
        str | None: Why the file is bad, or None.
    """
    return image_bytes_problem(data[:8], data[-_TAIL:],
                               osp.splitext(path)[1])


def decode_image_file(path: str) -> Optional[str]:
    """Byte check, then a full strict decode with Pillow.

    Args:
        path (str): The frame file.

    Returns:
        str | None: Why the file is bad, or None.
    """
    reason = check_image_file(path)
    if reason:
        return reason
    from PIL import Image
    try:
        with Image.open(path) as image:
            image.load()  # strict: raises on truncated or corrupt data
    except Exception as err:  # Pillow raises many types
        return f'undecodable image: {type(err).__name__}: {err}'
    return None


def frame_path(frame_dir: str, filename_tmpl: str, index: int) -> str:
    """Path of frame ``index`` (already including start index and offset).

    Args:
        frame_dir (str): The frame folder.
        filename_tmpl (str): E.g. ``'img_{:05}.jpg'``.
        index (int): Frame number as written in the file name.

    Returns:
        str: The path.
    """
    return osp.join(frame_dir, filename_tmpl.format(index))


def _template_regex(filename_tmpl: str) -> 're.Pattern':
    """Regex matching the file names a template produces."""
    parts = re.split(r'\{[^}]*\}', filename_tmpl)
    return re.compile('^' + r'(\d+)'.join(re.escape(p) for p in parts) + '$')


def count_frames(frame_dir: str, filename_tmpl: str) -> List[int]:
    """Frame numbers present in a folder, sorted.

    Args:
        frame_dir (str): The frame folder.
        filename_tmpl (str): Its file name template.

    Returns:
        list[int]: The numbers of the files that match the template.
    """
    pattern = _template_regex(filename_tmpl)
    numbers = []
    for name in os.listdir(frame_dir):
        match = pattern.match(name)
        if match and len(match.groups()) == 1:
            numbers.append(int(match.group(1)))
    return sorted(numbers)
