"""Small bar charts as PNG images, written with the standard library only (zlib): the digest
mail and ``./run.sh status --html`` show rows sent per vendor over 30 days with them. Mail
programs show an attached PNG where they drop SVG, scripts and most CSS.

A chart is one bar per value, bottom-aligned, scaled to the largest value; a day without a
value (``None``) is a short grey stub, so "nothing sent" and "not due" look different from a
small push. No text is drawn: the labels are the HTML's around the image."""
from __future__ import annotations

import struct
import zlib
from typing import Sequence

# palette indexes
BACKGROUND, BAR, NONE, AXIS = 0, 1, 2, 3
PALETTE = bytes([255, 255, 255, 34, 170, 119, 204, 204, 204, 120, 120, 120])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(pixels: Sequence[bytes], width: int, palette: bytes = PALETTE) -> bytes:
    """An 8-bit palette PNG of rows of palette indexes (each ``width`` bytes)."""
    if any(len(row) != width for row in pixels):
        raise ValueError("every row must be width bytes")
    raw = b"".join(b"\x00" + row for row in pixels)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, len(pixels), 8, 3, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"PLTE", palette)
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def bar_heights(values: Sequence[int | None], height: int) -> list[int]:
    """Each bar's height in pixels: the largest value fills ``height``; any value above 0 is at
    least 1 pixel; 0 and ``None`` are 0."""
    top = max((v for v in values if v), default=0)
    return [0 if not v or not top else max(1, round(v * height / top)) for v in values]


def bar_chart(values: Sequence[int | None], bar: int = 8, gap: int = 2, height: int = 60) -> bytes:
    """One bar per value (``bar`` pixels wide, ``gap`` between), ``height`` pixels for the
    largest, over a one-pixel axis line."""
    heights = bar_heights(values, height)
    width = max(1, len(values) * (bar + gap) - gap)
    rows = []
    for y in range(height, 0, -1):  # top row first
        row = bytearray(width)
        for i, (h, v) in enumerate(zip(heights, values)):
            colour = BAR if h >= y else NONE if v is None and y <= 2 else BACKGROUND
            if colour != BACKGROUND:
                x = i * (bar + gap)
                row[x:x + bar] = bytes([colour]) * bar
        rows.append(bytes(row))
    rows.append(bytes([AXIS]) * width)
    return png(rows, width)


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of palette indexes) of a PNG ``png`` wrote: for tests and checks."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, [raw[r * (width + 1) + 1:(r + 1) * (width + 1)] for r in range(height)]
