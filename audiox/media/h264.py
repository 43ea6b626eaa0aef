"""The one H.264 MP4 writer: frames appended as they come; optionally written atomically when closed.

Its users differ only in their encoder settings (:class:`H264Settings`): the synthetic corpus writes byte-
reproducible 4:2:0 video (:data:`REPRODUCIBLE`), packing writes 4:4:4 video at a chosen quality
(:func:`quality`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class H264Settings:
    """libx264 settings of one stream.

    Attributes:
        pix_fmt: the stream's pixel format (``"yuv420p"``, ``"yuv444p"``).
        options: libx264 options (``{"crf": "18", "preset": "medium"}``).
        bitexact: mux without version strings or dates, on one encoder thread (byte-reproducible files).
    """

    pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)
    bitexact: bool = False


REPRODUCIBLE = H264Settings(
    "yuv420p", {"preset": "veryfast", "qp": "22", "threads": "1", "flags": "+bitexact",
                "x264-params": "aq-mode=0:mbtree=0:psy=0:scenecut=0:b-adapt=0:weightp=0"}, bitexact=True)
"""A constant quantiser with the floating-point-driven decisions (adaptive quantisation, mb-tree, psy, scene cuts,
adaptive B-frames, weighted prediction) off: with CRF the output changed with the process's floating-point state
(e.g. after importing torch)."""


def quality(crf: int, pix_fmt: str = "yuv444p") -> H264Settings:
    """Constant-quality settings (CRF ``crf``, preset medium, one thread)."""
    return H264Settings(pix_fmt, {"crf": str(crf), "preset": "medium", "threads": "1"})


class H264Writer:
    """Append frames to one H.264 MP4 stream.

    Args:
        path: the file to write.
        fps: frames per second.
        width / height: frame size in pixels.
        settings: the encoder's settings.
        atomic: write to a temporary file beside ``path`` and move it there on :meth:`close` (a killed run leaves
            no partial ``path``).
    """

    def __init__(self, path: str | os.PathLike, *, fps: int, width: int, height: int, settings: H264Settings,
                 atomic: bool = False) -> None:
        import av

        self.path = Path(path)
        self.target = self.path.with_name(self.path.name + ".tmp.mp4") if atomic else self.path
        options = {"fflags": "+bitexact"} if settings.bitexact else {}
        self.container = av.open(str(self.target), "w", format="mp4", options=options)
        stream = self.container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = settings.pix_fmt
        if settings.bitexact:
            stream.codec_context.thread_count = 1
        stream.codec_context.options = dict(settings.options)
        self.stream = stream
        self.count = 0

    def add(self, frame: np.ndarray, format: str = "rgb24") -> None:
        """Encode one frame: ``(H, W, 3)`` uint8 RGB (``"rgb24"``) or ``(H * 3 // 2, W)`` planes (``"yuv420p"``)."""
        import av

        self.count += 1
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(frame, format=format)):
            self.container.mux(packet)

    def close(self) -> bool:
        """Flush and close; returns whether ``path`` was written (an atomic writer with no frame writes nothing and
        removes an older ``path``)."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        if self.target == self.path:
            return True
        if self.count == 0:
            self.target.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            return False
        os.replace(self.target, self.path)
        return True
