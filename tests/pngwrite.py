"""A minimal PNG writer for the tests: every colour type, bit depth, Adam7
interlacing and tRNS, which PIL cannot all write."""
import struct
import zlib

import numpy as np


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pack_rows(samples, depth):
    """samples (h, w*channels) ints -> filter-0 scanlines bytes."""
    out = b""
    for row in samples:
        if depth == 16:
            data = row.astype(">u2").tobytes()
        elif depth == 8:
            data = row.astype(np.uint8).tobytes()
        else:
            per = 8 // depth
            v = np.zeros(-(-len(row) // per) * per, np.uint16)
            v[:len(row)] = row
            shifts = 8 - depth * (np.arange(per) + 1)
            data = (v.reshape(-1, per) << shifts).sum(axis=1).astype(np.uint8).tobytes()
        out += b"\0" + data
    return out


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, pixels, color_type, depth, interlace=False, palette=None, trns=None):
    """pixels (h, w, channels) ints."""
    h, w, ch = pixels.shape
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = pixels[y0::dy, x0::dx]
            if sub.size:
                raw += pack_rows(sub.reshape(sub.shape[0], -1), depth)
    else:
        raw = pack_rows(pixels.reshape(h, -1), depth)
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0,
                                                               int(interlace)))
    if palette is not None:
        png += png_chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        png += png_chunk(b"tRNS", trns)
    png += png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)
