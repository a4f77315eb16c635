"""Edit a VBA project (``vbaProject.bin``) without Excel: add or replace modules.

A VBA project is a compound file ([MS-CFB]) holding, per [MS-OVBA]:

* ``VBA/dir``: the compressed project information (code page, name,
  references) and one MODULE record per module (name, stream name,
  source offset, type);
* ``VBA/<module>``: per module, optional compiled p-code followed from
  ``MODULEOFFSET`` by the compressed source text;
* ``VBA/_VBA_PROJECT``: version-dependent data.  xlwings' template holds the
  7-byte form without a performance cache (version ``0xFFFF``), which makes
  Excel compile the project from source when it opens it; that is what
  allows modules written as source only (offset 0), exactly how xlwings
  itself places its own ``xlwings`` module into the template;
* ``PROJECT`` (text: ``Module=...`` lines and window positions) and
  ``PROJECTwm`` (module names in MBCS and UTF-16).

:class:`VBAProject` reads such a file, lets modules be replaced or added as
source text, and writes a new file; unchanged modules are copied verbatim.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

from pyxl.addin.cfb import write_cfb
from pyxl.addin.ovba import compress, decompress

__all__ = ["Module", "VBAProject", "parse_bas"]

# dir stream record ids ([MS-OVBA] 2.3.4.2)
_PROJECTNAME = 0x0004
_PROJECTCODEPAGE = 0x0003
_PROJECTVERSION = 0x0009
_PROJECTMODULES = 0x000F
_PROJECTCOOKIE = 0x0013
_MODULENAME = 0x0019
_MODULENAMEUNICODE = 0x0047
_MODULESTREAMNAME = 0x001A
_MODULESTREAMNAMEUNICODE = 0x0032
_MODULEDOCSTRING = 0x001C
_MODULEDOCSTRINGUNICODE = 0x0048
_MODULEOFFSET = 0x0031
_MODULEHELPCONTEXT = 0x001E
_MODULECOOKIE = 0x002C
_MODULETYPE_PROCEDURAL = 0x0021
_MODULETYPE_DOCUMENT = 0x0022
_MODULE_TERMINATOR = 0x002B
_DIR_TERMINATOR = 0x0010

_CLASS_ATTRIBUTES = (
    'Attribute VB_Base = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"',
    "Attribute VB_GlobalNameSpace = False",
    "Attribute VB_Creatable = False",
    "Attribute VB_PredeclaredId = False",
    "Attribute VB_Exposed = False",
)


def _records(data: bytes) -> list[tuple[int, bytes]]:
    """Split a decompressed ``dir`` stream into (id, payload) records."""
    out = []
    i = 0
    while i < len(data):
        rid, size = struct.unpack_from("<HI", data, i)
        i += 6
        if rid == _PROJECTVERSION:  # Reserved=4, then MajorVersion(4) + MinorVersion(2)
            size = 6
        out.append((rid, data[i:i + size]))
        i += size
    return out


def _pack(records: list[tuple[int, bytes]]) -> bytes:
    buf = io.BytesIO()
    for rid, payload in records:
        if rid == _PROJECTVERSION:
            buf.write(struct.pack("<HI", rid, 4) + payload)
        else:
            buf.write(struct.pack("<HI", rid, len(payload)) + payload)
    return buf.getvalue()


@dataclass
class Module:
    """One VBA module: its records in ``dir`` and its stream."""

    name: str
    records: list[tuple[int, bytes]]
    stream: bytes
    #: Source text (decoded), set for modules read or written by us.
    source: str = ""
    kind: str = "procedural"  # "procedural", "class" or "document"
    changed: bool = field(default=False, repr=False)

    @property
    def offset(self) -> int:
        for rid, payload in self.records:
            if rid == _MODULEOFFSET:
                return struct.unpack("<I", payload)[0]
        return 0


def parse_bas(text: str) -> tuple[str, str]:
    """(module name, code) of an exported ``.bas`` file (``Attribute VB_Name`` line)."""
    lines = text.replace("\r\n", "\n").split("\n")
    name = None
    body = []
    for line in lines:
        if line.startswith("Attribute VB_Name") and name is None:
            name = line.split("=", 1)[1].strip().strip('"')
            continue
        body.append(line)
    if name is None:
        raise ValueError("no 'Attribute VB_Name = ...' line in the .bas text")
    return name, "\n".join(body).strip("\n") + "\n"


class VBAProject:
    """A VBA project read from ``vbaProject.bin`` bytes."""

    def __init__(self, data: bytes) -> None:
        import olefile

        ole = olefile.OleFileIO(io.BytesIO(data))
        self.streams: dict[str, bytes] = {
            "/".join(p): ole.openstream("/".join(p)).read() for p in ole.listdir()
        }
        ole.close()
        records = _records(decompress(self.streams["VBA/dir"]))
        k = next(i for i, (rid, _) in enumerate(records) if rid == _PROJECTMODULES)
        self.info = records[:k]
        self.codepage = next(
            struct.unpack("<H", p)[0] for rid, p in self.info if rid == _PROJECTCODEPAGE
        )
        self.encoding = f"cp{self.codepage}"
        self.project_text = self.streams["PROJECT"].decode(self.encoding)
        # PROJECT declares each module's kind: Document=, Class= (or BaseClass=), Module=.
        kinds: dict[str, str] = {}
        for line in self.project_text.splitlines():
            key, _, value = line.partition("=")
            if key in ("Document", "Class", "BaseClass", "Module"):
                kinds[value.split("/")[0]] = {"Document": "document", "Module": "procedural"}.get(
                    key, "class")
        self.modules: list[Module] = []
        current: list[tuple[int, bytes]] = []
        for rid, payload in records[k + 2:]:
            if rid == _DIR_TERMINATOR:
                break
            current.append((rid, payload))
            if rid == _MODULE_TERMINATOR:
                name = next(p for r, p in current if r == _MODULENAME).decode(self.encoding)
                sname = next(p for r, p in current if r == _MODULESTREAMNAME).decode(
                    self.encoding)
                stream = self.streams["VBA/" + sname]
                kind = kinds.get(name, "procedural")
                if kind == "procedural" and any(r == _MODULETYPE_DOCUMENT for r, _ in current):
                    kind = "class"
                mod = Module(name, current, stream, kind=kind)
                mod.source = decompress(stream[mod.offset:]).decode(self.encoding, "replace")
                self.modules.append(mod)
                current = []

    # -- queries -------------------------------------------------------------

    @property
    def name(self) -> str:
        return next(p for r, p in self.info if r == _PROJECTNAME).decode(self.encoding)

    def module(self, name: str) -> Module:
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(name)

    def code(self, name: str) -> str:
        """A module's source without its ``Attribute`` lines, LF line ends."""
        lines = self.module(name).source.replace("\r\n", "\n").split("\n")
        return "\n".join(x for x in lines if not x.startswith("Attribute VB_"))

    # -- edits ---------------------------------------------------------------

    def rename(self, name: str) -> None:
        """Set the VBA project name (``dir`` PROJECTNAME and ``PROJECT`` Name=)."""
        old = self.name
        self.info = [(r, name.encode(self.encoding) if r == _PROJECTNAME else p)
                     for r, p in self.info]
        self.project_text = self.project_text.replace(f'Name="{old}"', f'Name="{name}"')

    def set_module(self, name: str, code: str, kind: str | None = None) -> None:
        """Add module ``name`` or replace its source; ``code`` without Attribute lines.

        ``kind`` is ``"procedural"`` (a standard module) or ``"document"``
        (ThisWorkbook, sheets: must already exist); existing modules keep theirs.
        """
        existing = next((m for m in self.modules if m.name == name), None)
        if existing is not None:
            kind = existing.kind
            attrs = [x for x in existing.source.replace("\r\n", "\n").split("\n")
                     if x.startswith("Attribute VB_")]
        else:
            kind = kind or "procedural"
            if kind == "document":
                raise ValueError("document modules come with their sheet; cannot add one")
            attrs = [f'Attribute VB_Name = "{name}"']
            if kind == "class":
                attrs += list(_CLASS_ATTRIBUTES)
        body = code.replace("\r\n", "\n").strip("\n")
        source = "\r\n".join([*attrs, *body.split("\n")]) + "\r\n"
        raw = source.encode(self.encoding)  # raises for characters outside the code page
        enc = self.encoding
        records = [
            (_MODULENAME, name.encode(enc)),
            (_MODULENAMEUNICODE, name.encode("utf-16-le")),
            (_MODULESTREAMNAME, name.encode(enc)),
            (_MODULESTREAMNAMEUNICODE, name.encode("utf-16-le")),
            (_MODULEDOCSTRING, b""),
            (_MODULEDOCSTRINGUNICODE, b""),
            (_MODULEOFFSET, struct.pack("<I", 0)),
            (_MODULEHELPCONTEXT, struct.pack("<I", 0)),
            (_MODULECOOKIE, struct.pack("<H", 0xFFFF)),
            (_MODULETYPE_PROCEDURAL if kind == "procedural" else _MODULETYPE_DOCUMENT, b""),
            (_MODULE_TERMINATOR, b""),
        ]
        mod = Module(name, records, compress(raw), source=source, kind=kind, changed=True)
        if existing is not None:
            self.modules[self.modules.index(existing)] = mod
        else:
            self.modules.append(mod)

    def remove_module(self, name: str) -> None:
        """Drop a standard or class module."""
        mod = self.module(name)
        if mod.kind == "document":
            raise ValueError("cannot remove a document module")
        self.modules.remove(mod)

    # -- output --------------------------------------------------------------

    def _project_stream(self) -> str:
        lines = self.project_text.replace("\r\n", "\n").split("\n")
        head, rest = [], []
        i = 0
        while i < len(lines) and not lines[i].startswith("Name="):
            if not lines[i].startswith(("Module=", "Class=", "Document=", "BaseClass=")):
                head.append(lines[i])
            i += 1
        rest = lines[i:]
        decl = []
        for m in self.modules:
            if m.kind == "document":
                decl.append(f"Document={m.name}/&H00000000")
            elif m.kind == "class":
                decl.append(f"Class={m.name}")
            else:
                decl.append(f"Module={m.name}")
        # Workspace section: one line per module.
        out_rest: list[str] = []
        in_ws = False
        for line in rest:
            if line.strip() == "[Workspace]":
                in_ws = True
                out_rest.append(line)
                out_rest += [f"{m.name}=0, 0, 0, 0, C" for m in self.modules]
                continue
            if in_ws and "=" in line:
                continue
            out_rest.append(line)
        return "\r\n".join(head + decl + out_rest)

    def to_bytes(self) -> bytes:
        """The edited project as ``vbaProject.bin`` bytes."""
        enc = self.encoding
        records = list(self.info)
        records.append((_PROJECTMODULES, struct.pack("<H", len(self.modules))))
        records.append((_PROJECTCOOKIE, struct.pack("<H", 0xFFFF)))
        for m in self.modules:
            records += m.records
        records.append((_DIR_TERMINATOR, b""))
        streams: dict[str, bytes] = {
            k: v for k, v in self.streams.items()
            if not k.startswith("VBA/") or k in ("VBA/_VBA_PROJECT",)
        }
        # Keep any non-module VBA streams (e.g. __SRP_ caches are dropped on purpose).
        streams["VBA/dir"] = compress(_pack(records))
        for m in self.modules:
            sname = next(p for r, p in m.records if r == _MODULESTREAMNAME).decode(enc)
            streams["VBA/" + sname] = m.stream
        streams["PROJECT"] = self._project_stream().encode(enc)
        wm = b"".join(m.name.encode(enc) + b"\x00" + m.name.encode("utf-16-le") + b"\x00\x00"
                      for m in self.modules) + b"\x00\x00"
        streams["PROJECTwm"] = wm
        return write_cfb(streams)

    @classmethod
    def from_file(cls, path: str | Path) -> VBAProject:
        return cls(Path(path).read_bytes())
