"""Numbers PyXL saves with openpyxl read back as the same doubles.

openpyxl alone writes ``"%.16g" % x``: ``-1.1853466842305507`` (a Sortino of the MNVH Run
button's output) came back as ``-1.185346684230551``, so a Run button's output saved
without Excel differed from the formula in the last bit.
"""

from __future__ import annotations

import numpy as np
import openpyxl
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.macros import OpenpyxlBook
from pyxl.workbook.exact_floats import install, number_text


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_text_reads_back_as_the_same_double(x):
    assert float(number_text(x)) == x
    if x == int(x) and abs(x) < 1e15:
        assert "." not in number_text(x) and "e" not in number_text(x)


def test_openpyxl_book_saves_every_bit(tmp_path, monkeypatch):
    import openpyxl.cell._writer as writer
    from openpyxl.compat import safe_string

    monkeypatch.setattr(writer, "safe_string", safe_string)  # openpyxl as shipped
    path = tmp_path / "b.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "In"
    wb.save(path)
    rng = np.random.default_rng(np.random.SeedSequence(3))
    values = [-1.1853466842305507, 0.30000000000000004, 7203.0, 1e-300,
              *rng.normal(0, 1e6, 50).tolist()]
    assert any(float(f"{v:.16g}") != v for v in values)  # openpyxl alone loses these
    io = OpenpyxlBook(path)
    io.clear_sheet("Out_X")
    io.write("Out_X", 1, 1, [[v] for v in values])
    io.save()
    back = [c.value for c in openpyxl.load_workbook(path)["Out_X"]["A"]]
    assert back == values
    assert isinstance(back[2], int)  # whole numbers stay whole (7203, a ticker code)


def test_install_is_idempotent():
    import openpyxl.cell._writer as writer

    install()
    first = writer.safe_string
    install()
    assert writer.safe_string is first
    assert writer.safe_string(np.float64(0.1) * 3) == "0.30000000000000004"
    assert writer.safe_string(float("nan")) == ""
    assert writer.safe_string("text") == "text"
