"""The add-in: VBA container formats, generated wrappers (drift), and the built .xlam read back."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile

import olefile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oletools.olevba import VBA_Parser, decompress_stream

from pyxl.addin import wrappers
from pyxl.addin.build import (
    CONFIG_SHEET,
    StaleWrappersError,
    build_xlam,
    inspect_xlam,
    template_path,
)
from pyxl.addin.cfb import write_cfb
from pyxl.addin.ovba import compress, decompress
from pyxl.addin.vbaproject import VBAProject

# ---------------------------------------------------------------------------
# MS-OVBA compression
# ---------------------------------------------------------------------------


def test_ovba_spec_example_no_compression():
    # [MS-OVBA] 3.2.1: a string without repeats is stored as literal tokens.
    got = compress(b"abcdefghijklmnopqrstuv.")
    assert got.hex() == ("0119b000616263646566676800696a6b6c6d6e6f7000"
                         "7172737475762e")


@settings(max_examples=60, deadline=None)
@given(st.one_of(
    st.binary(max_size=9000),
    st.lists(st.sampled_from([b"Sub ", b"End Sub\r\n", b"Dim x\r\n", b"a", b"  "]),
             max_size=3000).map(b"".join),
))
def test_ovba_round_trip_against_oletools(data):
    packed = compress(data)
    # an incompressible last chunk is stored raw, padded to 4096 bytes with 0x00
    # ([MS-OVBA] 2.4.1.3.10), so a decompressor returns the data and that padding
    for out in (decompress(packed), bytes(decompress_stream(bytearray(packed)))):
        assert out[:len(data)] == data and not out[len(data):].strip(b"\0")


def test_ovba_compresses_source_text():
    src = (wrappers.ADDIN_DIR / wrappers.WRAPPERS_FILE).read_bytes() * 3
    packed = compress(src)
    assert len(packed) < 0.5 * len(src)
    assert bytes(decompress_stream(bytearray(packed))) == src


# ---------------------------------------------------------------------------
# Compound file writer
# ---------------------------------------------------------------------------


def _check_red_black(ole: olefile.OleFileIO) -> None:
    """Every storage's children: a binary search tree in CFB order, red-black valid."""
    entries = ole.direntries

    def key(e):
        return (len(e.name), e.name.upper())

    def walk(sid, lo, hi):
        if sid == olefile.NOSTREAM:
            return 1
        e = entries[sid]
        assert (lo is None or key(lo) < key(e)) and (hi is None or key(e) < key(hi))
        for child in (e.sid_left, e.sid_right):
            if e.color == 0 and child != olefile.NOSTREAM:
                assert entries[child].color == 1, "red node with a red child"
        bl = walk(e.sid_left, lo, e)
        br = walk(e.sid_right, e, hi)
        assert bl == br, "unequal black heights"
        return bl + (e.color == 1)

    for e in entries:
        if e is not None and e.entry_type in (olefile.STGTY_STORAGE, olefile.STGTY_ROOT):
            if e.sid_child != olefile.NOSTREAM:
                assert entries[e.sid_child].color == 1, "root of a tree must be black"
            walk(e.sid_child, None, None)


@pytest.mark.parametrize("n_small,n_big", [(1, 0), (7, 2), (40, 3)])
def test_cfb_round_trip_with_olefile(n_small, n_big):
    streams = {"PROJECT": b"ID=1\r\n", "VBA/_VBA_PROJECT": b"\xcca\xff\xff\x00\x01\x00",
               "VBA/empty": b""}
    for k in range(n_small):
        streams[f"VBA/mod{k:02d}"] = bytes([k % 251]) * (k * 97 + 1)
    for k in range(n_big):
        streams[f"Big{k}"] = bytes(range(256)) * (20 + 30 * k)
    data = write_cfb(streams)
    ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    got = {"/".join(p): ole.openstream("/".join(p)).read() for p in ole.listdir()}
    assert got == streams
    _check_red_black(ole)


# ---------------------------------------------------------------------------
# VBA project editing
# ---------------------------------------------------------------------------


def _template_vba() -> bytes:
    with zipfile.ZipFile(template_path()) as z:
        return z.read("xl/vbaProject.bin")


def test_vba_project_add_and_replace_modules_read_back_by_olevba():
    proj = VBAProject(_template_vba())
    dictionary_stream = proj.module("Dictionary").stream
    proj.rename("Tested")
    proj.set_module("NewModule", 'Sub Hello()\n    MsgBox "hi"\nEnd Sub')
    proj.set_module("ThisWorkbook", "Private Sub Workbook_Open()\nEnd Sub")
    data = proj.to_bytes()

    back = VBAProject(data)
    assert back.name == "Tested"
    assert [m.name for m in back.modules][-1] == "NewModule"
    assert back.module("Dictionary").stream == dictionary_stream  # untouched: verbatim
    assert back.module("ThisWorkbook").kind == "document"
    assert back.module("Dictionary").kind == "class"
    assert 'Name="Tested"' in back.project_text
    assert "Module=NewModule" in back.project_text
    assert "Document=ThisWorkbook/&H00000000" in back.project_text

    parser = VBA_Parser("x.bin", data=data)
    code = {s.split("/")[-1]: c for _f, s, _n, c in parser.extract_macros()}
    assert 'MsgBox "hi"' in code["NewModule"]
    assert "Workbook_Open" in code["ThisWorkbook"]
    assert 'Attribute VB_Base = "0{00020819' in back.module("ThisWorkbook").source


def test_vba_project_rejects_text_outside_code_page():
    proj = VBAProject(_template_vba())
    with pytest.raises(UnicodeEncodeError):
        proj.set_module("Bad", "' σ")


# ---------------------------------------------------------------------------
# Generated wrappers: the committed files must match the formulas
# ---------------------------------------------------------------------------


def test_committed_wrappers_match_the_python_formulas():
    stale = wrappers.stale_files()
    assert stale == [], (
        f"{stale} drifted from pyxl.udfs: run 'pyxl addin wrappers' and commit addin/*.bas")


def test_drift_is_detected(tmp_path):
    wrappers.write_all(tmp_path)
    assert wrappers.stale_files(tmp_path) == []
    path = tmp_path / wrappers.WRAPPERS_FILE
    text = path.read_bytes().decode("cp1252")
    first = re.search(r"^Function (\w+)\(([^)]*)\)", text, flags=re.M)
    path.write_bytes(text.replace(first.group(0), f"Function {first.group(1)}(x)", 1)
                     .encode("cp1252"))
    assert wrappers.stale_files(tmp_path) == [wrappers.WRAPPERS_FILE]


def test_wrappers_cover_every_formula_exactly():
    funcs = wrappers.formulas()
    text = wrappers.udf_wrappers_bas()
    assert text.startswith('Attribute VB_Name = "xlwings_udfs"\n')
    declared = re.findall(r"^Function (\w+)\(", text, flags=re.M)
    assert sorted(declared) == sorted(f.__xlfunc__["name"] for f in funcs)
    assert "Application.CommandBars" not in text  # never call_in_wizard=False
    reg = wrappers.register_bas()
    for f in funcs:
        assert f'Macro:=book & "{f.__xlfunc__["name"]}"' in reg
        assert 'Category:="PyXL"' in reg


@pytest.mark.parametrize("fname", [wrappers.WRAPPERS_FILE, wrappers.REGISTER_FILE,
                                   "RibbonPyXL.bas", "ThisWorkbook.cls"])
def test_vba_sources_are_valid_for_the_vba_editor(fname):
    raw = (wrappers.ADDIN_DIR / fname).read_bytes()
    text = raw.decode("cp1252")  # VBA source is stored in the project's code page
    for line in text.splitlines():
        assert len(line) <= 1023, f"{fname}: VBA line longer than 1023 characters"
    continuations = re.findall(r"(?:[^\n]* _\r?\n)+", text)
    assert all(c.count(" _\n") + c.count(" _\r\n") <= 24 for c in continuations)


def test_vba_text_spells_out_symbols():
    assert wrappers.vba_text('σ ≤ 2 "x"\n λ') == 'sigma <= 2 ""x"" lambda'
    assert wrappers.vba_text("Jäger").encode("cp1252")


# ---------------------------------------------------------------------------
# The built add-in, read back
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    # Drift is the job of test_committed_wrappers_match_the_python_formulas alone.
    return build_xlam(tmp_path_factory.mktemp("addin") / "pyxl.xlam", check_wrappers=False)


def test_built_xlam_members_match_the_xlwings_template(built):
    with zipfile.ZipFile(template_path()) as z:
        expected = set(z.namelist())
    info = inspect_xlam(built)
    assert set(info.members) == expected
    assert info.members[0] == "[Content_Types].xml"
    with zipfile.ZipFile(built) as z:
        assert z.testzip() is None
        ct = z.read("[Content_Types].xml").decode()
    assert "application/vnd.ms-excel.addin.macroEnabled.main+xml" in ct


def test_built_xlam_ribbon_and_callbacks(built):
    info = inspect_xlam(built)
    assert info.tab_labels == ["PyXL"]
    assert {"RibbonPyXL.RunMain", "RibbonPyXL.Recalculate", "RibbonPyXL.ImportFunctions",
            "RibbonPyXL.ShowHelp"} <= set(info.callbacks)
    assert info.missing_callbacks() == []
    assert 'RunPython "import pyxl; pyxl.main()"' in info.modules["RibbonPyXL"]
    assert '"pyxl.xl.cache"), "clear_all"' in info.modules["RibbonPyXL"]


def test_built_xlam_config_sheet(built):
    info = inspect_xlam(built)
    assert info.sheets == [CONFIG_SHEET] == ["pyxl.conf"]
    assert info.config["UDF Modules"] == "pyxl.udfs"
    assert info.config["Use UDF Server"] is True
    # xlwings reads the add-in's sheet PROJECT_NAME & ".conf": they must agree.
    assert 'PROJECT_NAME As String = "pyxl"' in info.modules["xlwings"]


def test_built_xlam_config_sheet_holds_no_blank_keys(built, tmp_path):
    """xlwings' GetConfig stops at the first layer holding a key, blank or not: a blank
    Interpreter_Win on the add-in's sheet would hide the user's pyxl.conf files."""
    info = inspect_xlam(built)
    assert "Interpreter_Win" not in info.config and "Conda Env" not in info.config
    assert all(str(v).strip() for v in info.config.values())
    # keys stay contiguous from A1 (GetConfigFromSheet reads A1 down to the first blank)
    with zipfile.ZipFile(built) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    rows = [int(r) for r in re.findall(r'<c r="A(\d+)"', sheet)]
    assert rows == list(range(1, len(info.config) + 1))
    # a given interpreter is written
    path = build_xlam(tmp_path / "p.xlam", check_wrappers=False,
                      interpreter_win=r"C:\py\pythonw.exe")
    assert inspect_xlam(path).config["Interpreter_Win"] == r"C:\py\pythonw.exe"


def test_built_xlam_vba_modules_by_olevba(built):
    info = inspect_xlam(built)
    assert {"xlwings", "RibbonPyXL", "xlwings_udfs", "PyXLRegister", "ThisWorkbook",
            "Dictionary"} <= set(info.modules)
    assert "RibbonMyAddin" not in info.modules
    for f in wrappers.formulas():
        name = f.__xlfunc__["name"]
        assert re.search(rf"^Function {name}\(", info.modules["xlwings_udfs"], flags=re.M)
    assert "PyXLRegister.RegisterPyXLFunctions" in info.modules["ThisWorkbook"]
    committed = (wrappers.ADDIN_DIR / wrappers.WRAPPERS_FILE).read_bytes().decode("cp1252")

    def code(text):
        lines = [x for x in text.splitlines() if not x.startswith("Attribute VB_")]
        return "\n".join(lines).strip()

    assert code(info.modules["xlwings_udfs"]) == code(committed)


def test_build_refuses_stale_wrappers(tmp_path):
    src = tmp_path / "addin"
    shutil.copytree(wrappers.ADDIN_DIR, src, ignore=shutil.ignore_patterns("build"))
    (src / wrappers.REGISTER_FILE).write_bytes(b'Attribute VB_Name = "PyXLRegister"\r\n')
    with pytest.raises(StaleWrappersError, match="pyxl addin wrappers"):
        build_xlam(tmp_path / "x.xlam", src=src)


def test_interpreter_is_written_into_the_config(tmp_path):
    out = build_xlam(tmp_path / "p.xlam", interpreter_win=r"C:\envs\pyxl\pythonw.exe",
                     check_wrappers=False)
    assert inspect_xlam(out).config["Interpreter_Win"] == r"C:\envs\pyxl\pythonw.exe"


def test_install_off_windows_says_what_to_do(capsys, monkeypatch):
    from pyxl.addin import install

    monkeypatch.setattr(install.sys, "platform", "linux")
    assert install.install() == 2
    assert "needs Windows" in capsys.readouterr().err


def test_cli_build_and_check(tmp_path, capsys):
    from pyxl.cli import main

    assert main(["addin", "build", "--no-check", "-o", str(tmp_path / "a.xlam")]) == 0
    out = capsys.readouterr().out
    assert "PyXL" in out and "pyxl.udfs" in out
    assert main(["addin", "wrappers", "--dir", str(tmp_path / "w")]) == 0
    assert main(["addin", "wrappers", "--check", "--dir", str(tmp_path / "w")]) == 0


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_imports_the_vba_project(built, tmp_path):
    """An independent reader: LibreOffice's VBA import turns the modules into Basic."""
    src = tmp_path / "pyxl.xlsm"
    with zipfile.ZipFile(built) as zin, zipfile.ZipFile(src, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "[Content_Types].xml":  # LibreOffice does not open .xlam as such
                data = data.replace(b"ms-excel.addin.macroEnabled", b"ms-excel.sheet.macroEnabled")
            zout.writestr(name, data)
    subprocess.run(
        ["soffice", "--headless", "--norestore",
         f"-env:UserInstallation=file://{tmp_path}/profile",
         "--convert-to", "ods", "--outdir", str(tmp_path), str(src)],
        check=True, capture_output=True, timeout=240)
    with zipfile.ZipFile(tmp_path / "pyxl.ods") as z:
        names = z.namelist()
        udfs = z.read("Basic/PyXL/xlwings_udfs.xml").decode()
    for mod in ("xlwings", "RibbonPyXL", "xlwings_udfs", "PyXLRegister", "ThisWorkbook"):
        assert f"Basic/PyXL/{mod}.xml" in names
    for f in wrappers.formulas():
        assert f"Function {f.__xlfunc__['name']}(" in udfs
