"""Audit (round 3) of the add-in build without Excel, checked against independent readers.

* MS-OVBA compression: the spec's own examples ([MS-OVBA] 3.2.1-3.2.3) and random data
  through oletools' decompressor; every chunk header as 2.4.1.1 defines it.
* The compound file: an independent [MS-CFB] v3 parser written here (FAT and mini FAT
  chains, sector ownership, red-black trees, name order, storage entries) and olefile.
* The VBA project: the ``dir`` records [MS-OVBA] 2.3.4.2 requires, the ``PROJECT`` and
  ``PROJECTwm`` streams, and olevba's source of every module against ``addin/``.
* The wrappers against the Python signatures; the ribbon against the VBA callbacks.
"""

from __future__ import annotations

import inspect
import io
import random
import re
import struct
import zipfile
from pathlib import Path

import pytest

olefile = pytest.importorskip("olefile")
olevba = pytest.importorskip("oletools.olevba")

from pyxl.addin import wrappers  # noqa: E402
from pyxl.addin.build import build_xlam  # noqa: E402
from pyxl.addin.cfb import write_cfb  # noqa: E402
from pyxl.addin.ovba import compress, decompress  # noqa: E402

FREE, EOC, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD

# ---------------------------------------------------------------------------
# MS-OVBA compression
# ---------------------------------------------------------------------------

# [MS-OVBA] 3.2: (decompressed, compressed as printed in the specification)
SPEC_VECTORS = [
    (b"abcdefghijklmnopqrstuv.",
     "01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E"),
    (b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa",
     "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 30 "
     "6D 6E 6F 70 06 71 02 70 04 10 72 73 74 75 76 10 77 78 79 7A 00 3C"),
    (b"a" * 73, "01 03 B0 02 61 45 00"),
]


def _oletools_decompress(container: bytes) -> bytes:
    return bytes(olevba.decompress_stream(bytearray(container)))


def _chunks(container: bytes) -> list[tuple[int, bool, int]]:
    """(header signature bits, compressed flag, chunk size) of every chunk ([MS-OVBA] 2.4.1.1)."""
    assert container[0] == 0x01
    out = []
    i = 1
    while i < len(container):
        (h,) = struct.unpack_from("<H", container, i)
        size = (h & 0x0FFF) + 3
        out.append(((h >> 12) & 0b111, bool(h & 0x8000), size))
        i += size
    assert i == len(container), "chunks do not tile the container"
    return out


@pytest.mark.parametrize("plain,hexed", SPEC_VECTORS)
def test_spec_examples_decompress_with_both_decompressors(plain, hexed):
    packed = bytes.fromhex(hexed)
    assert decompress(packed) == plain
    assert _oletools_decompress(packed) == plain


@pytest.mark.parametrize("plain,hexed", [SPEC_VECTORS[0], SPEC_VECTORS[2]])
def test_spec_examples_compress_to_the_printed_bytes(plain, hexed):
    # 3.2.2's printed bytes are not what 2.4.1.3's own procedure gives (two copy tokens
    # differ); any valid encoding is fine there, checked by the round trip below.
    assert compress(plain) == bytes.fromhex(hexed)
    assert _oletools_decompress(compress(SPEC_VECTORS[1][0])) == SPEC_VECTORS[1][0]


@pytest.mark.parametrize("n", [3641, 3700, 4095, 4096 + 3641, 2 * 4096 + 4000])
def test_incompressible_last_chunk_is_a_valid_raw_chunk(n):
    """A short last chunk that does not compress used to overflow the 12-bit size field.

    Before the fix the header of such a chunk carried size-3 = 4098..4605 into the
    signature bits, and oletools refused the container ("Invalid CompressedChunkSignature").
    [MS-OVBA] 2.4.1.3.10 stores it raw: 4096 bytes, padded with 0x00.
    """
    data = random.Random(n).randbytes(n)
    packed = compress(data)
    for sig, flag, size in _chunks(packed):
        assert sig == 0b011
        assert size <= 4098
        if not flag:
            assert size == 4098  # raw: header field 0xFFF, 4096 bytes
    got = _oletools_decompress(packed)
    pad = -n % 4096
    assert got == data + b"\x00" * pad
    assert decompress(packed) == got


@pytest.mark.parametrize("seed", range(12))
def test_random_data_round_trips_through_oletools(seed):
    rng = random.Random(seed)
    n = rng.choice([0, 1, 2, 3, 17, 4095, 4096, 4097, 8192, 12000, rng.randrange(20000)])
    # Mixed entropy: runs, repeated words and random bytes, so copy tokens of every
    # length and offset width appear; low enough entropy that no chunk is stored raw.
    words = [b"Sub ", b"End Sub\r\n", b"Dim x As Variant\r\n", b"    ", b"a"]
    parts = []
    while sum(map(len, parts)) < n:
        kind = rng.random()
        if kind < 0.5:
            parts.append(rng.choice(words))
        elif kind < 0.8:
            parts.append(bytes([rng.randrange(256)]) * rng.randrange(1, 300))
        else:
            parts.append(rng.randbytes(rng.randrange(1, 8)))
    data = b"".join(parts)[:n]
    packed = compress(data)
    assert all(sig == 0b011 and size <= 4098 for sig, _, size in _chunks(packed))
    assert _oletools_decompress(packed) == data
    assert decompress(packed) == data


# ---------------------------------------------------------------------------
# An independent [MS-CFB] version 3 reader
# ---------------------------------------------------------------------------


def _name(e: tuple) -> str:
    return e[0][: max(e[1] - 2, 0)].decode("utf-16-le")


def cfb_problems(data: bytes) -> tuple[list[str], dict[str, bytes], list[tuple]]:
    """Violations of [MS-CFB] v3 found by walking every structure; also the streams."""
    probs: list[str] = []
    h = struct.unpack_from("<8s16sHHHHH6sIIIIIIIII", data, 0)
    sig, _, _, major, order, shift, mshift, _, ndir, nfat, dir0, _, cutoff, mf0, nmf, _, _ = h
    if sig != bytes.fromhex("D0CF11E0A1B11AE1"):
        probs.append("signature")
    if (major, order, shift, mshift, ndir, cutoff) != (3, 0xFFFE, 9, 6, 0, 4096):
        probs.append(f"header fields {h[2:]}")
    if len(data) % 512:
        probs.append("file size is not a whole number of sectors")
    nsec = len(data) // 512 - 1
    difat = struct.unpack_from("<109I", data, 76)
    fat_secs = [x for x in difat if x != FREE]
    if len(fat_secs) != nfat or any(x != FREE for x in difat[nfat:]):
        probs.append("DIFAT does not list exactly the FAT sectors")
    fat: list[int] = []
    for s in fat_secs:
        fat += struct.unpack_from("<128I", data, 512 + 512 * s)
    owner: dict[int, str] = {s: "FAT" for s in fat_secs}
    if any(fat[s] != FATSECT for s in fat_secs):
        probs.append("FAT sectors not marked FATSECT")

    def sector(s: int) -> bytes:
        return data[512 + 512 * s: 1024 + 512 * s]

    def chain(start: int, what: str) -> list[int]:
        out, s = [], start
        while s != EOC:
            if s >= nsec or s in owner:
                probs.append(f"{what}: sector {s} out of file or used twice")
                break
            owner[s] = what
            out.append(s)
            s = fat[s]
        return out

    dirb = b"".join(sector(s) for s in chain(dir0, "directory"))
    ents = [struct.unpack_from("<64sHBBIII16sIQQIQ", dirb, 128 * k)
            for k in range(len(dirb) // 128)]
    if not ents or ents[0][2] != 5:
        probs.append("stream ID 0 is not the root entry")
    mf_secs = chain(mf0, "mini FAT") if mf0 != EOC else []
    if len(mf_secs) != nmf:
        probs.append("number of mini FAT sectors")
    minifat: list[int] = []
    for s in mf_secs:
        minifat += struct.unpack_from("<128I", data, 512 + 512 * s)
    root = ents[0]
    ministream = b"".join(sector(s) for s in chain(root[11], "mini stream")) if root[12] else b""
    mowner: set[int] = set()
    streams: dict[int, bytes] = {}
    for k, e in enumerate(ents):
        _, nl, kind, _, left, right, child, _, _, _, _, start, size = e
        if kind == 0:
            if e[0] != b"\0" * 64 or nl or (left, right, child) != (FREE,) * 3 or start or size:
                probs.append(f"unused entry {k} is not zeroed")
        elif kind == 1:
            if start != 0 or size != 0:  # [MS-CFB] 2.6.3
                probs.append(f"storage {_name(e)!r}: start sector {start:#x}, size {size}; "
                             "both must be 0")
        elif kind == 2:
            if size >= cutoff:
                secs = chain(start, _name(e))
                if len(secs) != -(-size // 512):
                    probs.append(f"{_name(e)}: chain length")
                streams[k] = b"".join(sector(s) for s in secs)[:size]
            else:
                out, s = [], start
                while size and s != EOC:
                    if s in mowner or s >= len(minifat):
                        probs.append(f"{_name(e)}: mini sector {s} reused or out of range")
                        break
                    mowner.add(s)
                    out.append(s)
                    s = minifat[s]
                if len(out) != -(-size // 64):
                    probs.append(f"{_name(e)}: mini chain length")
                streams[k] = b"".join(ministream[64 * s: 64 * s + 64] for s in out)[:size]
    if any(fat[s] != FREE and s not in owner for s in range(nsec)):
        probs.append("allocated sectors nobody owns")
    if any(minifat[s] != FREE and s not in mowner for s in range(len(minifat))):
        probs.append("allocated mini sectors nobody owns")

    def key(e: tuple) -> tuple[int, str]:  # [MS-CFB] 2.6.4: length first, then upper case
        return (len(_name(e)), _name(e).upper())

    paths: dict[int, str] = {}

    def walk(sid: int, lo: int | None, hi: int | None, blacks: int, prefix: str) -> list[int]:
        if sid == FREE:
            return [blacks]
        e = ents[sid]
        paths[sid] = prefix + _name(e)
        if (lo is not None and not key(ents[lo]) < key(e)) or (
                hi is not None and not key(e) < key(ents[hi])):
            probs.append(f"{paths[sid]}: out of order among its siblings")
        red = e[3] == 0
        if red and any(c != FREE and ents[c][3] == 0 for c in (e[4], e[5])):
            probs.append(f"{paths[sid]}: red node with a red child")
        if e[2] == 1:
            tree(sid, paths[sid] + "/")
        b = blacks + (not red)
        return walk(e[4], lo, sid, b, prefix) + walk(e[5], sid, hi, b, prefix)

    def tree(storage: int, prefix: str) -> None:
        top = ents[storage][6]
        if top == FREE:
            return
        if ents[top][3] != 1:
            probs.append(f"tree under {prefix!r} has a red root")
        if len(set(walk(top, None, None, 0, prefix))) != 1:
            probs.append(f"tree under {prefix!r}: black heights differ")

    tree(0, "")
    live = {k for k, e in enumerate(ents) if e[2] in (1, 2)}
    if live - set(paths):
        probs.append(f"entries not reachable from the root: {sorted(live - set(paths))}")
    named = {paths[k]: v for k, v in streams.items() if k in paths}
    return probs, named, ents


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_xlam(tmp_path_factory.mktemp("audit3") / "pyxl.xlam", check_wrappers=False)


@pytest.fixture(scope="module")
def vba_bin(built) -> bytes:
    with zipfile.ZipFile(built) as z:
        return z.read("xl/vbaProject.bin")


def test_storage_entries_have_zero_start_sector_and_size(vba_bin):
    """[MS-CFB] 2.6.3: storage objects have start sector and size 0 (the writer put ENDOFCHAIN)."""
    _, _, ents = cfb_problems(vba_bin)
    storages = [e for e in ents if e[2] == 1]
    assert [_name(e) for e in storages] == ["VBA"]
    assert [(e[11], e[12]) for e in storages] == [(0, 0)]
    _, _, ents = cfb_problems(write_cfb({"S/a": b"x", "S/T/b": b"y" * 5000}))
    assert sorted((_name(e), e[11], e[12]) for e in ents if e[2] == 1) == [("S", 0, 0), ("T", 0, 0)]


def test_built_vba_project_is_a_valid_compound_file(vba_bin):
    probs, streams, _ = cfb_problems(vba_bin)
    assert probs == []
    ole = olefile.OleFileIO(io.BytesIO(vba_bin))
    listed = {"/".join(p) for p in ole.listdir()}
    assert listed == set(streams)
    for path, data in streams.items():
        assert ole.openstream(path).read() == data


@pytest.mark.parametrize("case", ["edges", "many", "two_fat_sectors", "two_minifat_sectors"])
def test_cfb_writer_structures_by_the_independent_reader(case):
    rng = random.Random(case)
    streams = {
        "edges": {"a": b"", "b": b"x" * 4095, "c": b"y" * 4096, "S/d": b"z" * 64,
                  "S/T/e": b"q" * 65, "S/T/F": b"1"},
        "many": {f"VBA/m{i:03d}": rng.randbytes(rng.randrange(9000)) for i in range(60)},
        "two_fat_sectors": {"big": rng.randbytes(300_000), "small": b"s" * 3000},
        "two_minifat_sectors": {f"s{i}": rng.randbytes(4000) for i in range(40)},
    }[case]
    data = write_cfb(streams)
    probs, got, _ = cfb_problems(data)
    assert probs == []
    assert got == streams
    ole = olefile.OleFileIO(io.BytesIO(data))
    assert all(ole.openstream(k).read() == v for k, v in streams.items())


# ---------------------------------------------------------------------------
# The VBA project streams
# ---------------------------------------------------------------------------


def _dir_records(raw: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(raw):
        rid, size = struct.unpack_from("<HI", raw, i)
        i += 6
        if rid == 0x0009:  # PROJECTVERSION: Reserved=4, then 4 + 2 bytes
            size = 6
        out.append((rid, raw[i:i + size]))
        i += size
    return out


def test_dir_stream_has_the_records_excel_needs(vba_bin):
    ole = olefile.OleFileIO(io.BytesIO(vba_bin))
    recs = _dir_records(_oletools_decompress(ole.openstream("VBA/dir").read()))
    ids = [r for r, _ in recs]
    # PROJECTINFORMATION starts with these, in this order ([MS-OVBA] 2.3.4.2.1).
    assert ids[:5] == [0x0001, 0x0002, 0x0014, 0x0003, 0x0004]
    info = dict(recs[:ids.index(0x000F)])
    assert struct.unpack("<I", info[0x0001])[0] in (0, 1, 2, 3)  # PROJECTSYSKIND
    codepage = struct.unpack("<H", info[0x0003])[0]
    assert codepage == 1252
    assert info[0x0004] == b"PyXL"
    k = ids.index(0x000F)
    n_modules = struct.unpack("<H", recs[k][1])[0]
    assert recs[k + 1] == (0x0013, b"\xff\xff")  # PROJECTCOOKIE: 0xFFFF on write
    assert recs[-1] == (0x0010, b"")  # dir terminator, Reserved = 0
    modules, cur = [], []
    for rid, payload in recs[k + 2:-1]:
        cur.append((rid, payload))
        if rid == 0x002B:
            modules.append(cur)
            cur = []
    assert cur == [] and len(modules) == n_modules
    project = ole.openstream("PROJECT").read().decode("cp1252")
    declared = {}
    for line in project.split("\r\n"):
        key, _, value = line.partition("=")
        if key in ("Document", "Module", "Class"):
            declared[value.split("/")[0]] = key
    wm = ole.openstream("PROJECTwm").read()
    for mod in modules:
        rids = [r for r, _ in mod]
        # NAME, [NAMEUNICODE], STREAMNAME(+unicode), DOCSTRING(+unicode), OFFSET,
        # HELPCONTEXT, COOKIE, TYPE, [READONLY], [PRIVATE], terminator
        assert rids[0] == 0x0019 and rids[-1] == 0x002B
        core = [r for r in rids if r not in (0x0047, 0x0025, 0x0028)]
        assert core[:-1] == [0x0019, 0x001A, 0x0032, 0x001C, 0x0048, 0x0031, 0x001E, 0x002C,
                             core[-2]] and core[-2] in (0x0021, 0x0022)
        d = dict(mod)
        name = d[0x0019].decode("cp1252")
        assert d[0x0047].decode("utf-16-le") == name
        sname = d[0x001A].decode("cp1252")
        assert d[0x0032].decode("utf-16-le") == sname
        stream = ole.openstream("VBA/" + sname).read()
        offset = struct.unpack("<I", d[0x0031])[0]
        assert offset < len(stream)
        source = _oletools_decompress(stream[offset:]).decode("cp1252")
        assert source.startswith(f'Attribute VB_Name = "{name}"\r\n')
        # procedural modules are "Module=" in PROJECT; documents and classes 0x0022
        assert (core[-2] == 0x0021) == (declared[name] == "Module"), name
        assert name.encode("cp1252") + b"\0" + name.encode("utf-16-le") + b"\0\0" in wm
    assert sorted(declared) == sorted(dict(m)[0x0019].decode() for m in modules)
    workspace = project.split("[Workspace]\r\n", 1)[1]
    assert sorted(x.split("=")[0] for x in workspace.split("\r\n") if "=" in x) == sorted(declared)


def _code(text: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(x for x in lines if not x.startswith("Attribute VB_")).strip("\n")


def test_olevba_extracts_exactly_the_addin_sources(vba_bin):
    import xlwings

    parser = olevba.VBA_Parser("pyxl.xlam", data=vba_bin)
    got = {s.split("/")[-1]: code for _, s, _, code in parser.extract_macros()}
    parser.close()
    for fname in ("RibbonPyXL.bas", "pyxl_udfs.bas", "pyxl_register.bas", "ThisWorkbook.cls"):
        text = (wrappers.ADDIN_DIR / fname).read_bytes().decode("cp1252")
        name = re.search(r'^Attribute VB_Name = "(\w+)"', text, flags=re.M).group(1)
        assert _code(got[name]) == _code(text), fname
    xlw = (Path(xlwings.__file__).parent / "xlwings_custom_addin.bas").read_text("utf-8")
    xlw = re.sub(r'(PROJECT_NAME As String = )"[^"]*"', r'\1"pyxl"', xlw)
    assert _code(got["xlwings"]) == _code(xlw)
    assert "RibbonMyAddin" not in got


# ---------------------------------------------------------------------------
# The wrappers and the Function Wizard registration
# ---------------------------------------------------------------------------

# [MS-VBAL] 3.3.5.2 reserved identifiers (and the type names): not usable as parameters.
VBA_RESERVED = set("""
abs addressof and any array as attribute boolean byref byte byval call case cbool cbyte ccur
cdate cdbl cdec cdecl circle cint clng clnglng clngptr close const csng cstr currency cvar cverr
date debug decimal declare defbool defbyte defcur defdate defdbl defdec defint deflng deflnglng
deflngptr defobj defsng defstr defvar dim do doevents double each else elseif empty end endif
enum eqv erase error event exit false fix for friend function get global gosub goto if imp
implements in input inputb int integer is lbound len lenb let like lineinput lock long longlong
longptr loop lset me mod new next not nothing null on open option optional or paramarray
preserve print private pset ptrsafe public put raiseevent redim rem resume return rset scale seek
select set sgn shared single spc static stop string sub tab then to true type typeof ubound unlock
until variant wend while with withevents write xor
""".split())


def test_wrappers_match_the_python_signatures_and_call_convention():
    text = (wrappers.ADDIN_DIR / wrappers.WRAPPERS_FILE).read_bytes().decode("cp1252")
    funcs = {f.__xlfunc__["name"]: f for f in wrappers.formulas()}
    sigs = re.findall(r"^Function (\w+)\((.*)\)\r?$", text, flags=re.M)
    assert sorted(n for n, _ in sigs) == sorted(funcs)
    for name, arglist in sigs:
        params = list(inspect.signature(funcs[name]).parameters.values())
        vba = [a.strip().split() for a in arglist.split(",")]
        assert [a[-1] for a in vba] == [p.name for p in params], name
        # Optional in VBA exactly where Python has a default (the default itself stays
        # in Python: VBA passes a missing argument, xlwings turns it into the default)
        assert [a[0] == "Optional" for a in vba] == [
            p.default is not inspect.Parameter.empty for p in params], name
        assert all(len(a) in (1, 2) for a in vba)
        names = [a[-1].lower() for a in vba]
        assert not set(names) & VBA_RESERVED, name
        assert len(set(names)) == len(names)
        assert all(re.fullmatch(r"[A-Za-z]\w{0,254}", a[-1]) for a in vba)
        array = ", ".join(p.name for p in params)
        assert (f'{name} = XLPy.CallUDF("pyxl.udfs", "{name}", Array({array}), '
                f"ActiveWorkbook, Application.Caller)") in text
        assert f'{name} = XLPy.CallUDF("pyxl.udfs", "{name}", Array({array}))' in text


def _literal_ok(line: str) -> bool:
    """Every VBA string literal on the line is closed (quotes inside doubled)."""
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == "'":  # comment to the end of the line
            return True
        if ch == '"':
            i += 1
            while True:
                if i >= n:
                    return False  # unterminated literal
                if line[i] == '"':
                    if i + 1 < n and line[i + 1] == '"':
                        i += 2
                        continue
                    break
                i += 1
        i += 1
    return True


def test_register_module_literals_and_limits():
    text = (wrappers.ADDIN_DIR / wrappers.REGISTER_FILE).read_bytes().decode("cp1252")
    for line in text.split("\r\n"):
        assert len(line) <= 1023
        assert _literal_ok(line), line
    for m in re.finditer(r'(?:a\(\d+\) = |Description:=)"((?:[^"]|"")*)"', text):
        assert len(m.group(1).replace('""', '"')) <= 255


class _FakeFormula:
    def __init__(self, doc: str) -> None:
        self.__xlfunc__ = {
            "name": "FAKE", "category": "PyXL", "ret": {"doc": doc},
            "args": [{"name": "x", "doc": doc, "vba": None}],
        }


@pytest.mark.parametrize("doc", [
    "x" * 254 + '"quoted" tail',            # the cut fell inside a doubled quote
    "y" * 250 + " σ ≤ 1 " + '"a"' * 10,     # raw <= 255 chars, spelled out > 255
], ids=["quote-at-cut", "spelled-out-longer"])
def test_description_cut_never_breaks_the_vba_literal(monkeypatch, doc):
    """Cutting the escaped text at 255 could split a doubled quote: a syntax error in
    PyXLRegister, which Excel reports on every start (Workbook_Open calls it)."""
    monkeypatch.setattr(wrappers, "formulas", lambda module=wrappers.UDF_MODULE: [
        _FakeFormula(doc)])
    bas = wrappers.register_bas()
    lines = [x for x in bas.split("\n") if "FAKE" in x or x.startswith("    a(0)")]
    assert len(lines) == 2
    for line in lines:
        assert _literal_ok(line), line
    values = re.findall(r'(?:a\(0\) = |Description:=)"((?:[^"]|"")*)"', bas)
    assert len(values) == 2
    assert all(0 < len(v.replace('""', '"')) <= 255 for v in values)


def test_ribbon_callbacks_are_ribbon_subs(built, vba_bin):
    from defusedxml import ElementTree

    ns = "{http://schemas.microsoft.com/office/2006/01/customui}"
    with zipfile.ZipFile(built) as z:
        ui = ElementTree.fromstring(z.read("customUI/customUI.xml"))
        rels = z.read("_rels/.rels").decode()
        wb_rels = z.read("xl/_rels/workbook.xml.rels").decode()
        types = z.read("[Content_Types].xml").decode()
    assert ui.tag == f"{ns}customUI"
    assert 'Type="http://schemas.microsoft.com/office/2007/relationships/ui/extensibility" ' \
           'Target="customUI/customUI.xml"' in rels
    assert "http://schemas.microsoft.com/office/2006/relationships/vbaProject" in wb_rels
    assert 'PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.addin.' \
           'macroEnabled.main+xml"' in types
    assert 'PartName="/xl/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"' \
           in types
    ids = [e.get("id") for e in ui.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    parser = olevba.VBA_Parser("pyxl.xlam", data=vba_bin)
    code = {s.split("/")[-1]: c for _, s, _, c in parser.extract_macros()}
    parser.close()
    buttons = list(ui.iter(f"{ns}button"))
    assert len(buttons) == 5
    for b in buttons:
        assert b.get("size") in (None, "normal", "large")
        assert all(len(b.get(a, "")) <= 1024 for a in ("label", "screentip", "supertip"))
        mod, proc = b.get("onAction").split(".")
        assert re.search(rf"^(Public )?Sub {proc}\(control As IRibbonControl\)\r?$",
                         code[mod], flags=re.M), b.get("onAction")


def test_install_off_windows_exits_2_with_the_manual_steps(capsys, monkeypatch):
    from pyxl.addin import install
    from pyxl.cli import main

    monkeypatch.setattr(install.sys, "platform", "linux")
    assert main(["addin", "install"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("pyxl addin install needs Windows")
    assert "Startup/Excel" in install.manual_steps("darwin")
    # the Run button fails on a Mac until Interpreter_Mac names the python (docs step 5)
    assert "Interpreter_Mac" in install.manual_steps("darwin")
