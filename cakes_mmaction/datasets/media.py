"""Integrity checks of frames and videos, shared by the dataset and checker.

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
import struct
from typing import Callable, List, Optional, Tuple

__all__ = [
    'image_bytes_problem', 'check_image_file', 'check_image_bytes',
    'decode_image_file', 'frame_path', 'count_frames', 'check_video_file',
    'video_bytes_problem', 'mp4_structure_problem', 'probe_video'
]

_JPEG_SOI = b'\xff\xd8'
_JPEG_EOI = b'\xff\xd9'
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
_TAIL = 64


def image_bytes_problem(head: bytes, tail: bytes, ext: str) -> Optional[str]:
    """Byte-level check of a frame from its first and last bytes.

    The one implementation of the frame byte check: the checker and the
    robust datasets read the bytes from the file, the checked decoders
    (:class:`~cakes_mmaction.datasets.transforms.CheckedRawFrameDecode`)
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


_MP4_EXTS = ('.mp4', '.m4v', '.mov', '.3gp')
_MP4_TOP_BOXES = {
    b'ftyp', b'moov', b'mdat', b'free', b'skip', b'wide', b'uuid', b'pdin',
    b'moof', b'mfra', b'meta', b'styp', b'sidx', b'pnot', b'junk'
}


def _mp4_boxes_problem(read_at: Callable[[int, int], bytes],
                       size: int) -> Optional[str]:
    """Walk the top-level boxes; ``read_at(pos, n)`` returns ``n`` bytes."""
    seen = []
    pos = 0
    while pos < size:
        header = read_at(pos, 16)
        if len(header) < 8:
            return (f'truncated MP4: {len(header)} stray bytes at the end '
                    f'(offset {pos})')
        box_size, kind = struct.unpack('>I4s', header[:8])
        if not seen and kind not in _MP4_TOP_BOXES:
            return f'not an MP4/MOV container (first box type {kind!r})'
        if box_size == 1:
            if len(header) < 16:
                return f'truncated MP4: box {kind!r} header is cut'
            box_size = struct.unpack('>Q', header[8:16])[0]
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8:
            return f'corrupt MP4: box {kind!r} has size {box_size}'
        if pos + box_size > size:
            return (f'truncated MP4: box {kind.decode("latin-1")!r} '
                    f'declares {box_size} bytes from offset {pos} but the '
                    f'file ends at {size} (a copy or download was cut '
                    f'short)')
        seen.append(kind)
        pos += box_size
    if b'moov' not in seen and b'moof' not in seen:
        return 'MP4 without a moov box (index): the file is incomplete'
    return None


def mp4_structure_problem(path: str) -> Optional[str]:
    """Walk the top-level boxes of an MP4/MOV file.

    A copy cut short ends inside a box whose header promises more bytes;
    decord then fails with a message that names neither the file nor the
    cause. This reads only the box headers.

    Args:
        path (str): The video.

    Returns:
        str | None: Why the container is bad, or None.
    """
    with open(path, 'rb') as f:

        def read_at(pos: int, n: int) -> bytes:
            f.seek(pos)
            return f.read(n)

        return _mp4_boxes_problem(read_at, osp.getsize(path))


def video_bytes_problem(data: bytes, path: str) -> Optional[str]:
    """The checks of :func:`check_video_file` on bytes already read.

    Args:
        data (bytes): The whole file.
        path (str): Its path (for the extension).

    Returns:
        str | None: Why the video is bad, or None.
    """
    if not data:
        return 'empty video file (0 bytes)'
    if osp.splitext(path)[1].lower() in _MP4_EXTS:
        view = memoryview(data)
        return _mp4_boxes_problem(lambda pos, n: bytes(view[pos:pos + n]),
                                  len(data))
    return None


def check_video_file(path: str) -> Optional[str]:
    """Cheap check of a video file: present, not empty, whole container.

    Args:
        path (str): The video.

    Returns:
        str | None: Why the file is bad, or None.
    """
    if not osp.exists(path):
        return 'missing video file'
    if not osp.isfile(path):
        return 'not a regular file'
    if osp.getsize(path) == 0:
        return 'empty video file (0 bytes)'
    if osp.splitext(path)[1].lower() in _MP4_EXTS:
        return mp4_structure_problem(path)
    return None


def probe_video(path: str,
                full_decode: bool = True,
                chunk: int = 16) -> Tuple[int, Optional[str]]:
    """Open a video with decord and decode it.

    The frame count in an MP4 header can promise frames the file no longer
    holds (a copy cut short), so a readable header is not enough: frames
    are decoded, all of them with ``full_decode`` or else the first and
    the last.

    Args:
        path (str): The video.
        full_decode (bool): Decode every frame. Defaults to True.
        chunk (int): Frames per decode call. Defaults to 16.

    Returns:
        tuple[int, str | None]: Frames in the header and why the file is
        bad (or None).
    """
    reason = check_video_file(path)
    if reason:
        return 0, reason
    import decord
    try:
        reader = decord.VideoReader(path, num_threads=1)
    except Exception as err:  # decord raises RuntimeError or DECORDError
        return 0, f'cannot open the video: {_first_line(err)}'
    total = len(reader)
    if total == 0:
        return 0, 'the video has no frames'
    if full_decode:
        batches = [
            list(range(i, min(i + chunk, total)))
            for i in range(0, total, chunk)
        ]
    else:
        batches = [[0, total - 1]] if total > 1 else [[0]]
    for indices in batches:
        try:
            reader.get_batch(indices).asnumpy()
        except Exception as err:
            return total, (f'truncated or corrupt stream: the header says '
                           f'{total} frames but decoding frames '
                           f'{indices[0]}..{indices[-1]} failed: '
                           f'{_first_line(err)}')
    return total, None


def _first_line(err: BaseException) -> str:
    """The useful part of a decord error: its last line, no source paths."""
    text = str(err).strip().splitlines()
    last = re.sub(r'\[\d\d:\d\d:\d\d\] \S+:\d+: ', '',
                  text[-1] if text else '')
    return f'{type(err).__name__}: {last}'[:300]
