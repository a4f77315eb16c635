"""MS-OVBA run-length compression (the format of VBA source and ``dir`` streams).

Implements [MS-OVBA] section 2.4.1 "Compression and Decompression":
a CompressedContainer is the signature byte ``0x01`` followed by chunks, each
holding at most 4096 decompressed bytes behind a 2-byte header

    header = (chunk_size - 3) | (0b011 << 12) | (compressed_flag << 15)

A compressed chunk is a sequence of TokenSequences: one FlagByte whose bit i
(least significant first) says whether token i is a 2-byte CopyToken (1) or a
literal byte (0).  A CopyToken packs ``offset - 1`` in its high ``16 - L``
bits and ``length - 3`` in its low ``L`` bits, where the split depends on the
position inside the chunk: ``L = 16 - max(ceil(log2(pos)), 4)`` (section
2.4.1.3.19.1 CopyToken Help).  Matches never reach before the start of the
current chunk.

:func:`decompress` is provided for round-trip tests; the add-in build verifies
its output with oletools' independent decompressor as well.
"""

from __future__ import annotations

import struct

__all__ = ["compress", "decompress"]

_CHUNK = 4096


def _copy_token_help(pos: int) -> tuple[int, int]:
    """(bit_count, maximum_length) for a CopyToken at ``pos`` bytes into the chunk."""
    bit_count = 4
    while (1 << bit_count) < pos:
        bit_count += 1
    return bit_count, (0xFFFF >> bit_count) + 3


def _compress_chunk(data: bytes) -> bytes:
    """Token sequences of one chunk (no header)."""
    out = bytearray()
    n = len(data)
    pos = 0
    heads: dict[bytes, list[int]] = {}
    while pos < n:
        flag_index = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if pos >= n:
                break
            best_len, best_off = 0, 0
            if pos >= 1 and pos + 3 <= n:
                bit_count, max_len = _copy_token_help(pos)
                limit = min(max_len, n - pos)
                for cand in reversed(heads.get(data[pos:pos + 3], [])[-64:]):
                    length = 3
                    while length < limit and data[cand + length] == data[pos + length]:
                        length += 1
                    if length > best_len:
                        best_len, best_off = length, pos - cand
                        if length == limit:
                            break
            if best_len >= 3:
                bit_count, _ = _copy_token_help(pos)
                token = ((best_off - 1) << (16 - bit_count)) | (best_len - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
                step = best_len
            else:
                out.append(data[pos])
                step = 1
            for k in range(pos, pos + step):
                if k + 3 <= n:
                    heads.setdefault(data[k:k + 3], []).append(k)
            pos += step
        out[flag_index] = flags
    return bytes(out)


def compress(data: bytes) -> bytes:
    """Compress ``data`` into an MS-OVBA CompressedContainer.

    A chunk whose tokens would not fit the 4098-byte chunk limit (the 12-bit
    size field) is stored raw, as [MS-OVBA] 2.4.1.3.10 prescribes: exactly
    4096 bytes, a last chunk shorter than that padded with 0x00.  Only
    incompressible data reaches that case (VBA source text never does); a
    decompressor then returns the data followed by the padding.

    Parameters
    ----------
    data : bytes
        The decompressed bytes (e.g. VBA source in the project's code page).

    Returns
    -------
    bytes
        The container: signature byte ``0x01`` followed by the chunks.
    """
    out = bytearray(b"\x01")
    for start in range(0, len(data), _CHUNK):
        chunk = data[start:start + _CHUNK]
        body = _compress_chunk(chunk)
        if len(body) > _CHUNK:
            # Raw chunk: size field 0xFFF, flag 0, exactly 4096 bytes.
            out += struct.pack("<H", (_CHUNK - 1) | (0b011 << 12))
            out += chunk + b"\x00" * (_CHUNK - len(chunk))
        else:
            out += struct.pack("<H", (len(body) + 2 - 3) | (0b011 << 12) | 0x8000)
            out += body
    return bytes(out)


def decompress(container: bytes) -> bytes:
    """Decompress an MS-OVBA CompressedContainer."""
    if not container or container[0] != 1:
        raise ValueError("not an MS-OVBA compressed container (signature byte != 0x01)")
    out = bytearray()
    i = 1
    while i < len(container):
        (header,) = struct.unpack_from("<H", container, i)
        size = (header & 0x0FFF) + 3
        if (header >> 12) & 0b111 != 0b011:
            raise ValueError(f"bad chunk signature at byte {i}")
        compressed = bool(header & 0x8000)
        end = min(i + size, len(container))
        i += 2
        chunk_start = len(out)
        if not compressed:
            out += container[i:i + _CHUNK]
            i += _CHUNK
            continue
        while i < end:
            flags = container[i]
            i += 1
            for bit in range(8):
                if i >= end:
                    break
                if flags & (1 << bit):
                    (token,) = struct.unpack_from("<H", container, i)
                    i += 2
                    bit_count, _ = _copy_token_help(len(out) - chunk_start)
                    length = (token & (0xFFFF >> bit_count)) + 3
                    offset = (token >> (16 - bit_count)) + 1
                    src = len(out) - offset
                    for k in range(length):
                        out.append(out[src + k])
                else:
                    out.append(container[i])
                    i += 1
    return bytes(out)
