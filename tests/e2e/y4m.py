"""A tiny Y4M (YUV4MPEG2) writer: turns a picture into a fake camera stream for Chromium.

Chromium's ``--use-file-for-fake-video-capture=FILE.y4m`` plays the file in a loop as the webcam, so the
courier app's real camera path (getUserMedia -> qr-scanner) reads a real label without a phone.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def write_y4m(picture: bytes | Image.Image, path: Path, *, size: tuple[int, int] = (640, 960), frames: int = 10,
              fps: int = 10) -> Path:
    """Write ``picture`` (PNG bytes or an image), centred on white at ``size``, as ``frames`` 4:2:0 frames."""
    img = picture if isinstance(picture, Image.Image) else Image.open(io.BytesIO(picture))
    width, height = size
    if width % 2 or height % 2:
        raise ValueError("4:2:0 needs even dimensions")
    img = img.convert("RGB")
    img.thumbnail((width - 40, height - 40), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(img, ((width - img.width) // 2, (height - img.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (width // 2, height // 2)
    frame = b"FRAME\n" + y.tobytes() + cb.resize(half, Image.Resampling.BOX).tobytes() + \
        cr.resize(half, Image.Resampling.BOX).tobytes()
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii")
    path.write_bytes(header + frame * frames)
    return path
