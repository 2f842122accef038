"""Frames and videos: integrity checks, container walking and writing.

- ``images``: byte checks of frames (JPEG markers, PNG ``IEND``), frame
  counting in rawframe folders;
- ``containers``: the MP4/MOV, AVI and Matroska/WebM structure walkers
  (:func:`~.containers.mp4_boxes` is the one MP4 box walker);
- ``video``: checks of whole video files (container, then a decode);
- ``writers``: the one writer of frames and videos.

Shared by the datasets, the offline checker and the synthetic generator.
"""
from .containers import (MP4_TOP_BOXES, ContainerError, mp4_boxes,
                         mp4_structure_problem, video_bytes_problem,
                         video_structure_problem)
from .images import (check_image_bytes, check_image_file, count_frames,
                     decode_image_file, frame_path, image_bytes_problem)
from .video import check_video_file, probe_video
from .writers import mp4_faststart, write_frames, write_video

__all__ = [
    'image_bytes_problem', 'check_image_file', 'check_image_bytes',
    'decode_image_file', 'frame_path', 'count_frames', 'check_video_file',
    'video_bytes_problem', 'mp4_structure_problem', 'video_structure_problem',
    'probe_video', 'ContainerError', 'MP4_TOP_BOXES', 'mp4_boxes',
    'mp4_faststart', 'write_frames', 'write_video'
]
