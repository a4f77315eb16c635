"""beta has no default in beta_mode "absolute" (currency), in the formula and the CLI.

The default beta (``DEFAULT_BETA`` = 35) is a multiple of NAV.  Left out with
``beta_mode="absolute"``, where eq. 1's beta is in currency, it ran as 35 currency
units, a strategy that barely trades (final NAV 997,510 on the MNVH template instead of
an error).  Now the formula and ``pyxl backtest`` refuse, naming beta and the fix;
nav mode keeps its default.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyxl.cli import main
from pyxl.core.mnvh import DEFAULT_BETA, MNVHConfig, run_backtest
from pyxl.xl import winstub

PRICES = (("A", "B"),) + tuple((100.0 + i, 50.0 + 0.3 * i * (-1) ** i) for i in range(60))
BLANKS = (None,) * 6  # weights, fee_rate, half_spread, benchmark, hedge, throttle


@pytest.fixture(scope="module", autouse=True)
def _udfs():
    winstub.load_udf_module()


def _final_nav(rows) -> float:
    return dict((r[0], r[1]) for r in rows)["Final NAV"]


def test_formula_refuses_blank_beta_in_absolute_mode():
    for beta in (None, ""):
        out = winstub.call_formula("MNVH_BACKTEST", PRICES, 0.9, beta, *BLANKS, "absolute")
        msg = out[0][0]
        assert msg.startswith('#PyXL! beta: is blank with beta_mode "absolute"'), msg
        assert f"{DEFAULT_BETA:g} x cash0" in msg


def test_formula_nav_default_and_typed_beta_unchanged():
    """nav mode: blank beta is DEFAULT_BETA; absolute mode with beta typed runs eq. 1 as is,
    checked against the engine called directly (equal weights, the formula's default
    costs: 5 bp commission, 1 bp half spread)."""
    from pyxl.core.mnvh.ablation import research_config

    P = np.array(PRICES[1:], dtype=float)
    w = np.full(2, 0.5)
    nav_default = _final_nav(winstub.call_formula("MNVH_BACKTEST", PRICES))
    ref = run_backtest(P, w, research_config(beta=DEFAULT_BETA)).nav[-1]
    assert nav_default == pytest.approx(ref, rel=1e-12)
    typed = _final_nav(winstub.call_formula("MNVH_BACKTEST", PRICES, 0.9, 3.5e7, *BLANKS,
                                            "absolute"))
    ref = run_backtest(P, w, research_config(beta=3.5e7, beta_mode="absolute")).nav[-1]
    assert typed == pytest.approx(ref, rel=1e-12)
    assert isinstance(MNVHConfig().beta, float)


def test_cli_refuses_absolute_mode_without_beta(tmp_path, capsys):
    rc = main(["backtest", "--beta-mode", "absolute", "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc != 0
    assert "--beta: has no default with --beta-mode absolute" in err
    assert not (tmp_path / "mnvh").exists()


def test_cli_grid_with_betas_needs_no_beta(tmp_path):
    rc = main(["ablation", "--beta-mode", "absolute", "--betas", "1e7,2e7", "--lams", "0.9",
               "--schemes", "equal", "-o", str(tmp_path)])
    assert rc == 0 and (tmp_path / "mnvh" / "ablation.csv").exists()
