"""The structure of video containers, walked from their headers alone.

decord decodes a file cut short without complaint into fewer frames, and
from memory (mmaction2's ``DecordInit``) a cut AVI makes it segfault. So
the top-level structure of MP4/MOV (boxes), AVI (RIFF chunks) and
Matroska/WebM (EBML elements) is walked here, and a file whose last box,
chunk or element promises more bytes than the file holds is named as cut
short. :func:`mp4_boxes` is the one MP4 box walker of the package.

Each check returns ``None`` when the file is good, or a one-line reason.
"""
import os.path as osp
import struct
from typing import Callable, Iterator, Optional, Set, Tuple

__all__ = [
    'ContainerError', 'MP4_TOP_BOXES', 'mp4_boxes', 'video_bytes_problem',
    'mp4_structure_problem', 'video_structure_problem'
]

_MP4_EXTS = ('.mp4', '.m4v', '.mov', '.3gp')
MP4_TOP_BOXES = {
    b'ftyp', b'moov', b'mdat', b'free', b'skip', b'wide', b'uuid', b'pdin',
    b'moof', b'mfra', b'meta', b'styp', b'sidx', b'pnot', b'junk'
}


class ContainerError(ValueError):
    """A box structure that is cut short or corrupt (one-line reason)."""


def mp4_boxes(read_at: Callable[[int, int], bytes],
              start: int,
              end: int,
              first_kinds: Optional[Set[bytes]] = None
              ) -> Iterator[Tuple[int, int, bytes]]:
    """Walk the MP4/MOV boxes between two offsets.

    The one reader of MP4 box headers: the integrity check walks a file's
    top level with it, :func:`~cakes_mmaction.harness.media.writers.
    mp4_faststart` the children of ``moov``. 64-bit sizes and a last box
    of size 0 (up to the end) are understood.

    Args:
        read_at (Callable[[int, int], bytes]): ``read_at(pos, n)`` returns
            up to ``n`` bytes from offset ``pos``.
        start (int): Offset of the first box.
        end (int): Offset where the boxes end (the file size at the top
            level, the parent's end inside a box).
        first_kinds (set[bytes], optional): Box types the first box may
            have; another one means the data is no MP4. Defaults to None
            (any).

    Yields:
        tuple[int, int, bytes]: Offset, size (header included) and type of
        each box.

    Raises:
        ContainerError: A header cut short, a size below 8 bytes, a box
            that ends past ``end``, or a first box of another type.
    """
    pos = start
    while pos < end:
        header = read_at(pos, min(16, end - pos))
        if len(header) < 8:
            raise ContainerError(
                f'truncated MP4: {len(header)} stray bytes at the end '
                f'(offset {pos})')
        box_size, kind = struct.unpack('>I4s', header[:8])
        if (pos == start and first_kinds is not None
                and kind not in first_kinds):
            raise ContainerError(
                f'not an MP4/MOV container (first box type {kind!r})')
        if box_size == 1:
            if len(header) < 16:
                raise ContainerError(
                    f'truncated MP4: box {kind!r} header is cut')
            box_size = struct.unpack('>Q', header[8:16])[0]
        elif box_size == 0:
            box_size = end - pos
        if box_size < 8:
            raise ContainerError(
                f'corrupt MP4: box {kind!r} has size {box_size}')
        if pos + box_size > end:
            raise ContainerError(
                f'truncated MP4: box {kind.decode("latin-1")!r} declares '
                f'{box_size} bytes from offset {pos} but the file ends at '
                f'{end} (a copy or download was cut short)')
        yield pos, box_size, kind
        pos += box_size


def _mp4_boxes_problem(read_at: Callable[[int, int], bytes],
                       size: int) -> Optional[str]:
    """Walk the top-level boxes; ``read_at(pos, n)`` returns ``n`` bytes."""
    try:
        kinds = [
            kind for _, _, kind in mp4_boxes(
                read_at, 0, size, first_kinds=MP4_TOP_BOXES)
        ]
    except ContainerError as err:
        return str(err)
    if b'moov' not in kinds and b'moof' not in kinds:
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
            or head[4:8] in MP4_TOP_BOXES):
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
