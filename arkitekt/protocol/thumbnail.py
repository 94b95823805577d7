"""A small PNG of an image's first plane, for notebook display (no imaging library needed)."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import numpy as np

THUMBNAIL_EDGE = 128


def first_plane(data: Any) -> Any:
    """The lazy 2D plane shown: index 0 of every dim but the last two, strided to <= 128 px."""
    index: list[Any] = [0] * max(0, data.ndim - 2)
    for n in data.shape[-2:]:
        index.append(slice(None, None, max(1, -(-n // THUMBNAIL_EDGE))))
    return data[tuple(index)]


def to_png(plane: np.ndarray[Any, Any]) -> bytes:
    """Grayscale 8-bit PNG of a 2D array, contrast stretched to its 1st-99th percentiles."""
    values = np.asarray(plane)
    if values.ndim == 1:
        values = values[np.newaxis, :]
    values = np.abs(values) if np.iscomplexobj(values) else values.astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    scaled = np.clip((values - low) / ((high - low) or 1.0), 0, 1)
    pixels = np.nan_to_num(scaled * 255).astype(np.uint8)
    height, width = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )


def png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
