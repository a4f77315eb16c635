"""Every formula in pyxl.udfs meets the Excel delivery rules (issue 6, item 1).

Checked through the xlwings harness on all formulas present, whoever wrote
them: category "PyXL", a docstring within Excel's 255-character limit, a doc
for every argument, no legacy ``expand``, ``call_in_wizard`` left on, argument
names VBA accepts, and blank / error / text inputs answered by one short
``#PyXL! <argument>: ...`` line, never a traceback or an internal error.
"""

from __future__ import annotations

import inspect

import pytest

from pyxl.xl import winstub
from pyxl.xl.convert import ERROR_PREFIX

MOD = winstub.load_udf_module()
FORMULAS = sorted(n for n in dir(MOD) if hasattr(getattr(MOD, n), "__xlfunc__"))

#: Words VBA will not take as parameter names in the generated wrappers.
VBA_RESERVED = {
    "and", "as", "boolean", "byref", "byte", "byval", "call", "case", "const", "currency",
    "date", "declare", "dim", "do", "double", "each", "else", "elseif", "empty", "end",
    "enum", "eqv", "erase", "error", "event", "exit", "false", "for", "friend", "function",
    "get", "global", "gosub", "goto", "if", "imp", "implements", "in", "integer", "is",
    "let", "like", "long", "loop", "lset", "me", "mod", "new", "next", "not", "nothing",
    "null", "object", "on", "option", "optional", "or", "paramarray", "preserve", "private",
    "property", "public", "raiseevent", "redim", "rem", "resume", "return", "rset", "select",
    "set", "single", "static", "step", "stop", "string", "sub", "then", "to", "true", "type",
    "typeof", "until", "variant", "wend", "while", "with", "xor", "array", "len", "mid",
}

pytestmark = pytest.mark.skipif(not FORMULAS, reason="no formulas in pyxl.udfs yet")


def _info(name):
    return getattr(MOD, name).__xlfunc__


def test_there_are_formulas():
    assert len(FORMULAS) >= 1


@pytest.mark.parametrize("name", FORMULAS)
def test_metadata(name):
    info = _info(name)
    assert info["name"] == name
    assert info["category"] == "PyXL"
    assert info["call_in_wizard"] is True, "call_in_wizard=False makes cells show 0 on open"
    assert "expand" not in info["ret"]["options"], "legacy expand overwrites neighbours"
    doc = getattr(MOD, name).__doc__
    assert doc and doc.strip(), "docstring is the Function Wizard description"
    assert len(info["ret"]["doc"]) <= 255, f"docstring is {len(info['ret']['doc'])} characters"
    for arg in info["args"]:
        assert arg["doc"] and not arg["doc"].startswith("Positional argument"), (
            f"argument {arg['name']} has no doc")
        assert len(arg["doc"]) <= 255, f"doc of {arg['name']} exceeds 255 characters"
        assert arg["name"].lower() not in VBA_RESERVED, (
            f"argument {arg['name']} is a VBA keyword: the generated wrapper would not compile")
        assert not arg["vararg"] or arg is info["args"][-1]


@pytest.mark.parametrize("name", FORMULAS)
def test_signature_matches_metadata(name):
    func = getattr(MOD, name)
    params = list(inspect.signature(func).parameters.values())
    info = _info(name)
    assert [p.name for p in params] == [a["name"] for a in info["args"]]
    for p, a in zip(params, info["args"], strict=True):
        assert ("optional" in a) == (p.default is not inspect.Parameter.empty)


def _required(name):
    return [a["name"] for a in _info(name)["args"] if "optional" not in a and not a["vararg"]]


def _single_error_line(result, name):
    """What Excel receives is one cell (xlwings writes a str as [[str]]) holding one line."""
    if isinstance(result, list) and len(result) == 1 and len(result[0]) == 1:
        result = result[0][0]
    assert isinstance(result, str), f"{name}: expected one error cell, got {result!r}"
    assert "\n" not in result and "Traceback" not in result
    assert result.startswith(ERROR_PREFIX), result
    assert "internal error" not in result, result
    assert len(result) <= 255
    return result[len(ERROR_PREFIX):].split(":")[0].strip()


@pytest.mark.parametrize("name", FORMULAS)
def test_all_blank_names_a_blank_required_argument(name):
    required = _required(name)
    if not required:
        pytest.skip("no required argument")
    result = winstub.call_formula(name, *[None] * len(required))
    arg = _single_error_line(result, name)
    # Every required argument is blank here, so the line must name one of them
    # (formulas may validate the argument that fixes the size first).
    assert arg in required, f"{name}: blank inputs reported as {arg!r}"


@pytest.mark.parametrize("name", FORMULAS)
@pytest.mark.parametrize("bad", [None, "n/a", -2146826246, ((None, None), (None, None))],
                         ids=["blank", "text", "error-cell", "blank-range"])
def test_each_required_argument_bad_gives_one_line(name, bad):
    """Each required argument in turn bad, the others blank: one line naming an argument."""
    required = _required(name)
    names = [a["name"] for a in _info(name)["args"]]
    for k in range(len(required)):
        args = [None] * len(required)
        args[k] = bad
        arg = _single_error_line(winstub.call_formula(name, *args), name)
        assert arg in names, f"{name}: error does not name an argument: {arg!r}"
