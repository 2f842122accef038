"""Integrity checks of frames and videos, shared by the dataset and checker.

Decoders are lenient with damaged files, so success of a decode is not
proof of a good sample: a JPEG cut short decodes with OpenCV 4 and
``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` as an image whose missing rows are
grey, and OpenCV 5 returns ``None``, which mmaction2's ``RawFrameDecode``
hands on until something fails far away without a file name. The checks
here look at the bytes: JPEG start/end markers, PNG ``IEND``, then
(optionally) a full decode.

Videos get the same treatment for every container decord reads: the
top-level structure of MP4/MOV (boxes), AVI (RIFF chunks) and Matroska/WebM
(EBML elements) is walked from the headers alone, and a file whose last
box, chunk or element promises more bytes than the file holds is named as
cut short. decord decodes such files without complaint into fewer frames,
and from memory (mmaction2's ``DecordInit``) a cut AVI makes it segfault.

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
    'video_bytes_problem', 'mp4_structure_problem', 'video_structure_problem',
    'probe_video'
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


def _riff_problem(read_at: Callable[[int, int], bytes],
                  size: int) -> Optional[str]:
    """Walk the top-level RIFF chunks of an AVI (OpenDML adds ``AVIX``)."""
    pos = 0
    while pos + 8 <= size:
        header = read_at(pos, 12)
        kind = header[:4]
        if kind not in (b'RIFF', b'JUNK'):
            if pos == 0:
                return f'not an AVI file (starts with {kind!r})'
            break  # trailing bytes after the last RIFF are ignored
        chunk = struct.unpack('<I', header[4:8])[0]
        if pos == 0 and header[8:12] != b'AVI ':
            return f'not an AVI file (RIFF form {header[8:12]!r})'
        end = pos + 8 + chunk + (chunk & 1)
        if chunk == 0 or pos + 8 + chunk > size:
            return (f'truncated AVI: RIFF chunk at offset {pos} declares '
                    f'{chunk} bytes but the file ends at {size} (a copy or '
                    f'download was cut short)')
        pos = end
    if pos == 0:
        return f'truncated AVI: {size} bytes, no complete RIFF header'
    return None


_EBML_MAGIC = b'\x1a\x45\xdf\xa3'
_EBML_SEGMENT = 0x18538067


def _ebml_vint(data: bytes, keep_marker: bool) -> Optional[Tuple[int, int]]:
    """(value, length) of the EBML variable-size integer at ``data[0]``."""
    if not data or data[0] == 0:
        return None
    length = 8 - data[0].bit_length() + 1
    if len(data) < length:
        return None
    value = data[0] if keep_marker else data[0] & ((0x80 >> (length - 1)) -
                                                   1)
    for byte in data[1:length]:
        value = (value << 8) | byte
    return value, length


def _ebml_element(read_at: Callable[[int, int], bytes],
                  pos: int) -> Optional[Tuple[int, int, Optional[int]]]:
    """(id, header length, data size or None when unknown) at ``pos``."""
    head = read_at(pos, 12)
    ident = _ebml_vint(head, keep_marker=True)
    if ident is None:
        return None
    length = _ebml_vint(head[ident[1]:], keep_marker=False)
    if length is None:
        return None
    unknown = length[0] == (1 << (7 * length[1])) - 1
    return ident[0], ident[1] + length[1], None if unknown else length[0]


def _ebml_problem(read_at: Callable[[int, int], bytes],
                  size: int) -> Optional[str]:
    """Walk the top-level EBML elements of a Matroska/WebM file.

    A Segment of unknown size (live recordings) is walked child by child;
    a child of unknown size ends the walk (nothing can be told).
    """
    pos = 0
    while pos < size:
        element = _ebml_element(read_at, pos)
        if element is None:
            return (f'truncated or corrupt Matroska/WebM: no valid element '
                    f'header at offset {pos} of {size} bytes')
        ident, header, length = element
        if length is None:
            if ident != _EBML_SEGMENT:
                return None
            pos += header  # walk the children of a live Segment
            continue
        if pos + header + length > size:
            what = 'Segment' if ident == _EBML_SEGMENT else (
                f'element 0x{ident:X}')
            return (f'truncated Matroska/WebM: {what} at offset {pos} '
                    f'declares {length} bytes but the file ends at {size} '
                    f'(a copy or download was cut short)')
        pos += header + length
    return None


def _container(head: bytes, path: str) -> Optional[str]:
    """Which structure check a video file gets, from its first bytes."""
    if head[:4] == b'RIFF':
        return 'avi'
    if head[:4] == _EBML_MAGIC:
        return 'ebml'
    if (osp.splitext(path)[1].lower() in _MP4_EXTS
            or head[4:8] in _MP4_TOP_BOXES):
        return 'mp4'
    return None


_WALKERS = dict(mp4=_mp4_boxes_problem, avi=_riff_problem, ebml=_ebml_problem)


def video_structure_problem(path: str) -> Optional[str]:
    """Walk the container of a video file: MP4/MOV, AVI, Matroska/WebM.

    Only the element headers are read. A copy cut short ends inside a box,
    chunk or element whose header promises more bytes; decord then decodes
    fewer frames than the file had, fails without naming the file, or (AVI
    from memory) crashes the process.

    Args:
        path (str): The video.

    Returns:
        str | None: Why the container is bad, or None (also for containers
        without a structure check).
    """
    with open(path, 'rb') as f:

        def read_at(pos: int, n: int) -> bytes:
            f.seek(pos)
            return f.read(n)

        kind = _container(read_at(0, 12), path)
        if kind is None:
            return None
        return _WALKERS[kind](read_at, osp.getsize(path))


def mp4_structure_problem(path: str) -> Optional[str]:
    """Walk the top-level boxes of an MP4/MOV file.

    Kept for callers that know the file is MP4/MOV; see
    :func:`video_structure_problem` for every container.

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
    kind = _container(data[:12], path)
    if kind is None:
        return None
    view = memoryview(data)
    return _WALKERS[kind](lambda pos, n: bytes(view[pos:pos + n]), len(data))


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
    return video_structure_problem(path)


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
