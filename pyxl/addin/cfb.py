"""Write a Compound File Binary (OLE2, [MS-CFB] version 3) from a tree of streams.

``olefile`` reads compound files but can only overwrite a stream with one of
the same size; a VBA project gains modules, so the add-in build writes the
whole file anew.  Layout (512-byte sectors, version 3):

* streams of 4096 bytes or more in regular sectors, smaller ones in the mini
  stream (64-byte mini sectors) held by the root entry;
* then the mini stream, the mini FAT, the directory and the FAT (no DIFAT:
  up to 109 FAT sectors, about 7 MB, far more than a VBA project needs);
* storage entries have start sector and size 0 ([MS-CFB] 2.6.3);
* each storage's children form a red-black tree ordered as [MS-CFB] 2.6.4
  requires (shorter names first, then upper-case code points), built
  balanced with the deepest level red, which satisfies the red-black rules.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

__all__ = ["write_cfb"]

SECTOR = 512
MINI = 64
CUTOFF = 4096
FREESECT = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF


def _key(name: str) -> tuple[int, str]:
    return (len(name.encode("utf-16-le")) // 2, name.upper())


class _Entry:
    def __init__(self, name: str, kind: int, data: bytes = b"") -> None:
        if len(name) > 31:
            raise ValueError(f"CFB entry name too long: {name!r}")
        self.name = name
        self.kind = kind  # 1 storage, 2 stream, 5 root
        self.data = data
        self.children: list[_Entry] = []
        self.left = self.right = self.child = NOSTREAM
        self.color = 1  # black
        # [MS-CFB] 2.6.3: a storage's start sector and size are zero; a stream's
        # (and the root's mini stream) start is set when its data is placed.
        self.start = 0 if kind == 1 else ENDOFCHAIN
        self.size = 0
        self.sid = 0

    def pack(self) -> bytes:
        raw = self.name.encode("utf-16-le")
        name = raw + b"\x00\x00"
        return struct.pack(
            "<64sHBBIII16sIQQIQ",
            name, len(name), self.kind, self.color, self.left, self.right, self.child,
            b"\x00" * 16, 0, 0, 0, self.start, self.size,
        )


def _build_tree(nodes: list[_Entry]) -> int:
    """Balanced red-black tree over ``nodes`` (sorted in place); returns the root sid."""
    nodes.sort(key=lambda e: _key(e.name))
    depth: dict[int, int] = {}

    def build(lo: int, hi: int, d: int) -> int:
        if lo >= hi:
            return NOSTREAM
        mid = (lo + hi) // 2
        node = nodes[mid]
        depth[id(node)] = d
        node.left = build(lo, mid, d + 1)
        node.right = build(mid + 1, hi, d + 1)
        return node.sid

    root = build(0, len(nodes), 0)
    if nodes:
        deepest = max(depth.values())
        for node in nodes:
            node.color = 0 if (deepest > 0 and depth[id(node)] == deepest) else 1
    return root


def write_cfb(streams: Mapping[str, bytes]) -> bytes:
    """A compound file holding ``streams`` (paths like ``"VBA/dir"``).

    Storages are created from the path components.  Returns the file bytes.
    """
    root = _Entry("Root Entry", 5)
    entries = [root]
    storages: dict[str, _Entry] = {"": root}
    for path in sorted(streams):
        parts = path.split("/")
        parent = root
        for k in range(1, len(parts)):
            sub = "/".join(parts[:k])
            if sub not in storages:
                st = _Entry(parts[k - 1], 1)
                st.sid = len(entries)
                entries.append(st)
                storages[sub] = st
                parent.children.append(st)
            parent = storages[sub]
        leaf = _Entry(parts[-1], 2, bytes(streams[path]))
        leaf.sid = len(entries)
        entries.append(leaf)
        parent.children.append(leaf)
    for e in entries:
        if e.kind in (1, 5):
            e.child = _build_tree(e.children)

    # Mini stream for small streams.
    mini = bytearray()
    minifat: list[int] = []
    big: list[_Entry] = []
    for e in entries:
        if e.kind != 2:
            continue
        e.size = len(e.data)
        if e.size == 0:
            e.start = ENDOFCHAIN
        elif e.size < CUTOFF:
            n = -(-e.size // MINI)
            first = len(minifat)
            e.start = first
            minifat += [first + k + 1 for k in range(n - 1)] + [ENDOFCHAIN]
            mini += e.data + b"\x00" * (n * MINI - e.size)
        else:
            big.append(e)

    sectors: list[bytes] = []
    fat: list[int] = []

    def add_chain(data: bytes) -> int:
        n = -(-len(data) // SECTOR)
        if n == 0:
            return ENDOFCHAIN
        first = len(sectors)
        padded = data + b"\x00" * (n * SECTOR - len(data))
        for k in range(n):
            sectors.append(padded[k * SECTOR:(k + 1) * SECTOR])
            fat.append(first + k + 1 if k < n - 1 else ENDOFCHAIN)
        return first

    for e in big:
        e.start = add_chain(e.data)
    root.start = add_chain(bytes(mini))
    root.size = len(mini)
    minifat_bytes = b"".join(struct.pack("<I", x) for x in minifat)
    if minifat:
        pad = (-len(minifat)) % (SECTOR // 4)
        minifat_bytes += struct.pack("<I", FREESECT) * pad
    first_minifat = add_chain(minifat_bytes) if minifat else ENDOFCHAIN
    n_minifat = len(minifat_bytes) // SECTOR

    dir_entries = list(entries)
    while len(dir_entries) % (SECTOR // 128):
        empty = _Entry("", 0)
        dir_entries.append(empty)
    dir_bytes = b"".join(e.pack() if e.kind else _empty_entry() for e in dir_entries)
    first_dir = add_chain(dir_bytes)

    # FAT sectors: enough to map every sector including themselves.
    n_fat = 1
    while n_fat * (SECTOR // 4) < len(sectors) + n_fat:
        n_fat += 1
    if n_fat > 109:
        raise ValueError("compound file too large for a header-only DIFAT")
    fat_start = len(sectors)
    fat += [FATSECT] * n_fat
    fat += [FREESECT] * (n_fat * (SECTOR // 4) - len(fat))
    fat_bytes = b"".join(struct.pack("<I", x) for x in fat)
    for k in range(n_fat):
        sectors.append(fat_bytes[k * SECTOR:(k + 1) * SECTOR])

    difat = [fat_start + k for k in range(n_fat)] + [FREESECT] * (109 - n_fat)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"), b"\x00" * 16, 0x003E, 0x0003, 0xFFFE, 9, 6,
        b"\x00" * 6, 0, n_fat, first_dir, 0, CUTOFF, first_minifat, n_minifat,
        ENDOFCHAIN, 0,
    ) + b"".join(struct.pack("<I", x) for x in difat)
    assert len(header) == SECTOR
    return header + b"".join(sectors)


def _empty_entry() -> bytes:
    return struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM,
                       b"\x00" * 16, 0, 0, 0, 0, 0)
