"""Text cells with a comma: thousands separators are read, a decimal comma is refused.

Every formula reads a number typed or pasted as text the way Excel's en-US VALUE does.
Before, the comma was dropped whatever it stood for, so a European ``10,5`` (beta) became
105 and a German text price ``1.234,56`` became 1.23456, both without a word.
"""

from __future__ import annotations

import pytest
from conftest import excel_row

from pyxl.errors import InputError
from pyxl.xl import winstub
from pyxl.xl.convert import is_text, to_float, to_matrix


@pytest.mark.parametrize("text, value", [("1,234", 1234.0), ("1,234.5", 1234.5),
                                         ("-12,345,678.9", -12345678.9), (" 1,000 ", 1000.0),
                                         ("2.5", 2.5), ("1e3", 1000.0)])
def test_thousands_separators_and_plain_text_numbers(text, value):
    assert to_float(text, "x") == value
    assert not is_text(text)


@pytest.mark.parametrize("text, meant", [("0,9", "0.9"), ("10,5", "10.5"),
                                         ("1.234,56", "1234.56"), ("12,3456", "12.3456")])
def test_decimal_comma_is_refused_naming_the_number_meant(text, meant):
    with pytest.raises(InputError) as e:
        to_float(text, "beta")
    assert str(e.value) == (f"beta: text {text!r} at the cell has a decimal comma; "
                            f"enter {meant} with a decimal point")
    assert is_text(text)


def test_text_price_with_a_decimal_comma_in_a_range_names_the_cell():
    with pytest.raises(InputError) as e:
        to_matrix(((100.0, 50.0), (101.0, "1.234,56"), (102.0, 51.0)), "prices")
    assert "row 2, column 2" in str(e.value) and "decimal comma" in str(e.value)


def test_formula_refuses_a_decimal_comma_beta():
    winstub.load_udf_module()
    rows = (("A", "B"),) + tuple((100.0 + i, 50.0 + (-1) ** i) for i in range(30))
    out = winstub.call_formula("MNVH_BACKTEST", rows, 0.9, "10,5")
    assert out[0][0].startswith("#PyXL! beta: text '10,5' at the cell has a decimal comma")


def test_percent_text_is_its_decimal_as_excel_value_reads_it(xl):
    """'5%' in a text cell was refused as 'not a number'; Excel's VALUE reads it as 0.05,
    and the CLI readers read '5.2%' in a CSV as 0.052: the formulas now do the same."""
    assert xl("KELLY_LEVERAGE", "8.5%", "18.2 %", "1%") == \
        xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01)
    assert xl("KELLY_LEVERAGE", "８．５％", 0.182, 0.01) == xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01)
    assert xl("LEDGER_KAPPA", excel_row([100.0, 50.0]), excel_row([10.0, -4.0]), 1000.0,
              "0.05%") == xl("LEDGER_KAPPA", excel_row([100.0, 50.0]),
                             excel_row([10.0, -4.0]), 1000.0, 0.0005)
    # not a percentage: still refused, naming the argument
    assert xl("KELLY_LEVERAGE", "8.5%%", 0.182, 0.01) == [
        ["#PyXL! mu: text '8.5%%' at the cell; enter a number"]]
