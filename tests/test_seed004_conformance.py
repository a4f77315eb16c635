"""Seed 004 conformance: the MBP code against the seed's equations, written out densely.

Every expected value here is computed from the seed's own formulas with the dense
N x N covariance ``B F B' + diag(s)`` (seed eq. 3), never from the code under test:

* eq. (1)-(2): segment term V(sum_m W_m (r_m - r_T)), within terms
  W_m^2 V(sum_i y*_mi (r_i - r_m)), Delta_1 as the seed's double sum over i, j of
  Cov(r_i - r_m, r_j - r_m'), Delta_2 (stray y*_mi dropped), and their sum = TE^2;
* eq. (4)-(5) in factor form (beta_k, z_m, Cov(eps_m, eps_m); beta*_km, z*_im);
* eq. (6): segment-neutral holdings make eq. (4) zero;
* Table 1's qualitative claims on the bundled study.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import excel_range

from pyxl.core.mbp import Limits, decompose, make_data, make_universe, optimize
from pyxl.core.mbp.study import table1_study
from pyxl.xl.cache import clear_all


def col(v):
    return excel_range(np.asarray(v, dtype=float))


def _seed_terms(wT, seg, B, F, s, w):
    """Seed eqs. (1)-(5) literally, dense; ``seg`` holds 0-based segment indices."""
    n, M = wT.size, int(seg.max()) + 1
    S = B @ F @ B.T + np.diag(s)
    Wt = np.array([wT[seg == m].sum() for m in range(M)])
    W = np.array([w[seg == m].sum() for m in range(M)])
    ybb = np.zeros((M, n))  # y**_m
    ys = np.zeros((M, n))  # y*_m = w_{G_m} / W_m^P
    for m in range(M):
        g = seg == m
        ybb[m, g] = wT[g] / Wt[m]
        with np.errstate(invalid="ignore", divide="ignore"):  # W_m = 0: undefined
            ys[m, g] = w[g] / W[m]
    c1 = sum(W[m] * (ybb[m] - wT) for m in range(M))  # sum_m W_m (r_m - r_T)
    term1 = c1 @ S @ c1
    within = np.array([(ys[m] - ybb[m]) @ S @ (ys[m] - ybb[m]) for m in range(M)])
    eye = np.eye(n)
    d1 = 0.0
    d2 = 0.0
    for m in range(M):
        im = np.flatnonzero(seg == m)
        for mp in range(M):
            jm = np.flatnonzero(seg == mp)
            Ej = eye[jm] - ybb[mp]  # rows: r_j - r_m'
            if m != mp:
                Ei = eye[im] - ybb[m]
                d1 += W[m] * W[mp] * ys[m, im] @ (Ei @ S @ Ej.T) @ ys[mp, jm]
            d2 += W[m] * W[mp] * ((ybb[m] - wT) @ S @ Ej.T) @ ys[mp, jm]
    a = w - wT
    z = W - Wt  # eq. (4): z_m, beta_k of the segment bet, Cov(eps_m) = sum y**^2 s
    beta = sum(z[m] * (B.T @ ybb[m]) for m in range(M))
    eq4 = beta @ F @ beta + sum(z[m] ** 2 * np.sum(ybb[m] ** 2 * s) for m in range(M))
    eq5 = np.array([(B.T @ (ys[m] - ybb[m])) @ F @ (B.T @ (ys[m] - ybb[m]))
                    + np.sum((ys[m] - ybb[m]) ** 2 * s) for m in range(M)])
    return {"term1": term1, "within": within, "W": W, "d1": d1, "d2": d2,
            "total": a @ S @ a, "eq4": eq4, "eq5": eq5}


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(4)
    n, k = 45, 4
    B = rng.normal(size=(n, k))
    A = rng.normal(size=(k, k))
    F = 0.01 * A @ A.T
    s = rng.uniform(0.01, 0.2, n)
    seg = np.repeat(np.arange(3), n // 3)
    wT = rng.uniform(0.1, 1.0, n)
    wT /= wT.sum()
    return rng, wT, seg, B, F, s


@pytest.mark.parametrize("long_short", [False, True])
def test_decomposition_is_seed_eq2_term_by_term(small, long_short):
    rng, wT, seg, B, F, s = small
    d = make_data(wT, seg + 1, B, F, s)
    for _ in range(10):
        w = rng.uniform(0, 1, wT.size) * (rng.uniform(size=wT.size) < 0.5)
        if long_short:
            w -= 0.3 * rng.uniform(0, 1, wT.size) * (rng.uniform(size=wT.size) < 0.3)
        w[[0, 15, 30]] += 0.5  # every segment net long
        w /= w.sum()
        t = _seed_terms(wT, seg, B, F, s, w)
        dc = decompose(d, w)
        assert dc.segment_var == pytest.approx(t["term1"], rel=1e-10, abs=1e-16)
        np.testing.assert_allclose(dc.within_var, t["W"] ** 2 * t["within"], rtol=1e-10)
        np.testing.assert_allclose(dc.within_te, np.sqrt(t["within"]), rtol=1e-10)
        assert dc.delta1 == pytest.approx(t["d1"], rel=1e-9, abs=1e-16)
        assert dc.delta2 == pytest.approx(t["d2"], rel=1e-9, abs=1e-16)
        assert dc.total_var == pytest.approx(t["total"], rel=1e-12)
        # the seed's eq. (2) is an identity when sum w = 1, and so is the report
        assert t["term1"] + (t["W"] ** 2 * t["within"]).sum() + t["d1"] + 2 * t["d2"] \
            == pytest.approx(t["total"], rel=1e-10)
        assert abs(dc.residual) <= 1e-14 * t["total"] + 1e-18
        # eqs. (4)-(5) in factor form are the first term and each within-segment TE^2
        assert t["eq4"] == pytest.approx(t["term1"], rel=1e-10, abs=1e-16)
        np.testing.assert_allclose(t["eq5"], t["within"], rtol=1e-10)


def test_within_te_blank_for_a_dollar_neutral_segment(small, xl):
    """Before the fix: 1.5e15 (1.5e17 %) for a segment held +0.1, +0.2, -0.3.

    The net weight 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point, not 0, so
    TE(v_m) / |W_m| was divided by rounding noise.  Seed eq. (5) normalises by
    y*_m = w_{G_m} / W_m^P, undefined at W_m^P = 0: a blank, as the docs promise.
    """
    _, wT, seg, B, F, s = small
    d = make_data(wT, seg + 1, B, F, s)
    w = np.zeros(wT.size)
    w[:15] = 1.0 / 15
    w[30:33] = [0.1, 0.2, -0.3]
    assert w[30:].sum() != 0.0  # rounding: the case the guard must catch
    dc = decompose(d, w)
    assert np.isnan(dc.within_te[2])
    assert np.isnan(d.within_te(w, 2))
    assert np.isfinite(dc.within_te[0])
    # the seed's term W^2 TE^2 = Var(v_m'r) stays exact, and so does the identity
    t = _seed_terms(wT, seg, B, F, s, w)
    v3 = np.where(seg == 2, w, 0.0)  # W_3 = 0: v_3 = w on G_3
    S = B @ F @ B.T + np.diag(s)
    assert dc.within_var[2] == pytest.approx(v3 @ S @ v3, rel=1e-9)
    assert dc.total_var == pytest.approx(t["total"], rel=1e-12)
    assert abs(dc.residual) < 1e-15
    clear_all()
    out = xl("MBP_REPORT", col(w), col(wT), col(seg + 1), excel_range(B), excel_range(F),
             col(s))
    vals = {r[0]: r[1] for r in out}
    assert vals["Within-segment TE 3"] == ""
    assert vals["Names held 3"] == 3


def test_short_positions_count_as_names_held(small, xl):
    """Before the fix: a segment of three short positions showed 'Names held 2' = 0 next to
    a within-segment TE (docs: a segment holds no name when every |w_i| is at or below
    the threshold, so a short position is a name held)."""
    _, wT, seg, B, F, s = small
    d = make_data(wT, seg + 1, B, F, s)
    w = np.zeros(wT.size)
    w[:15] = 1.2 / 15
    w[15:18] = [-0.1, -0.05, -0.05]
    dc = decompose(d, w)
    expected = (np.abs(w) > 1e-7).astype(int)
    np.testing.assert_array_equal(dc.names_held, [expected[seg == m].sum() for m in range(3)])
    assert dc.names_held[1] == 3 and np.isfinite(dc.within_te[1])
    clear_all()
    out = xl("MBP_REPORT", col(w), col(wT), col(seg + 1), excel_range(B), excel_range(F),
             col(s))
    vals = {r[0]: r[1] for r in out}
    assert vals["Names held 2"] == 3 and vals["Names held"] == 18


def test_segment_neutral_is_seed_eq6_and_zeroes_eq4(small):
    """Eq. (6) holds each W_m^P at W_m^T; then eq. (4) (segment TE) is zero and every
    within-segment limit, normalised by W_m^P as in eq. (2), holds."""
    rng, wT, seg, B, F, s = small
    d = make_data(wT, seg + 1, B, F, s)
    alpha = 0.02 * rng.standard_normal(wT.size)
    res = optimize(d, alpha, Limits(te_total=0.02, te_within=(0.03, 0.03, 0.03)))
    w = np.asarray(res.weights)
    t = _seed_terms(wT, seg, B, F, s, w)
    np.testing.assert_allclose(t["W"], [wT[seg == m].sum() for m in range(3)], atol=1e-9)
    assert t["eq4"] < 1e-16
    assert np.sqrt(t["total"]) <= 0.02 * (1 + 1e-6)
    assert np.all(np.sqrt(t["eq5"]) <= 0.03 * (1 + 1e-6))
    # without eq. (6) (the perspective form) W_m^P floats; the limit is on eq. (5) with
    # y*_m = w_{G_m} / W_m^P, the portfolio's own segment weight
    res = optimize(d, alpha, Limits(te_total=0.02, te_within=(0.03, 0.03, 0.03),
                                    segment_neutral=False))
    w = np.asarray(res.weights)
    t = _seed_terms(wT, seg, B, F, s, w)
    assert np.max(np.abs(t["W"] - [wT[seg == m].sum() for m in range(3)])) > 1e-4
    assert np.all(np.sqrt(t["eq5"]) <= 0.03 * (1 + 1e-6))


@pytest.fixture(scope="module")
def study():
    return table1_study(make_universe()).set_index(["portfolio", "te_limit"])


def test_table1_qualitative_claims_hold_in_the_bundled_study(study):
    """Seed Table 1: an SBP leaves the small-cap segment's within-segment TE uncontrolled
    (largest of the three at every market TE, and above the market TE) and holds fewer
    names as TE rises; the MBP bounds every segment at its limit."""
    sbp, mbp = study.loc["SBP"], study.loc["MBP"]
    within = sbp[["within_te_1", "within_te_2", "within_te_3"]].to_numpy()
    assert np.all(within[:, 2] == within.max(axis=1))
    assert np.all(sbp["within_te_3"].to_numpy() > 1.3 * sbp.index.to_numpy())
    assert np.all(np.diff(sbp["within_te_3"].to_numpy()) > 0)
    for c in ("names", "names_3"):
        assert np.all(np.diff(sbp[c].to_numpy()) < 0)
    for m in (1, 2, 3):
        assert np.all(mbp[f"within_te_{m}"] <= mbp[f"within_limit_{m}"] * (1 + 1e-6))
        assert np.all(np.abs(mbp[f"weight_{m}"].to_numpy()
                             - mbp[f"weight_{m}"].to_numpy()[0]) < 1e-9)
    assert np.all(mbp["segment_te"] < 1e-8)
    assert np.all(sbp["within_te_3"].to_numpy() > mbp["within_limit_3"].to_numpy())
    np.testing.assert_allclose(study["market_te"], study.index.get_level_values(1),
                               rtol=1e-6)


#: Seed Table 1 (SBP): market TE -> (U names, (G1 TE %, names), (G2 ...), (G3 ...)).
SEED_TABLE1 = {
    0.0025: (757, (0.06, 100), (0.63, 398), (5.27, 255)),
    0.005: (556, (0.14, 100), (1.49, 386), (11.07, 67)),
    0.01: (424, (0.38, 99), (2.62, 313), (18.73, 10)),
    0.02: (211, (1.32, 97), (6.68, 107), (25.42, 6)),
    0.03: (127, (2.42, 98), (5.85, 29), (26.31, 4)),
    0.04: (104, (3.39, 83), (23.22, 17), (26.29, 4)),
    0.05: (97, (4.47, 79), (19.25, 14), (26.36, 4)),
}


def _page() -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs/mbp.md").read_text(encoding="utf-8")
    return " ".join(text.split())


def test_docs_state_what_the_study_does_not_reproduce(study):
    """The docs' comparison with seed Table 1, figure by figure."""
    import re

    page = _page()
    sbp = study.loc["SBP"]
    m = re.search(r"within-segment TE is (\d+) x the market TE at 1 % \(([\d.]+) %, in (\d+) "
                  r"names\)\. Here it is ([\d.]+) x \(([\d.]+) %, in (\d+) names\)", page)
    assert m is not None
    g3 = SEED_TABLE1[0.01][3]
    assert int(m.group(1)) == round(g3[0] / 1.0) and float(m.group(2)) == g3[0]  # % / 1 %
    assert int(m.group(3)) == g3[1]
    assert float(m.group(4)) == round(sbp.loc[0.01, "within_te_3"] / 0.01, 1)
    assert float(m.group(5)) == round(100 * sbp.loc[0.01, "within_te_3"], 2)
    assert int(m.group(6)) == sbp.loc[0.01, "names_3"]
    # seed: G1 below the market TE at every level, 97-100 names up to 3 %
    assert all(row[1][0] < 100 * te for te, row in SEED_TABLE1.items())
    assert min(row[1][1] for te, row in SEED_TABLE1.items() if te <= 0.03) == 97
    assert "97-100 names are held up to 3 %" in page
    assert np.all(sbp["within_te_1"].to_numpy() > sbp.index.to_numpy())
    m = re.search(r"\(([\d.]+) % at 1 %\), and G1 names held fall to (\d+) at 3 %", page)
    assert float(m.group(1)) == round(100 * sbp.loc[0.01, "within_te_1"], 2)
    assert int(m.group(2)) == sbp.loc[0.03, "names_1"]
    # the seed's own inconsistencies
    pairs = re.findall(r"(\d+) against (?:100 \+ 398 \+ 255 = )?(\d+)", page)
    sums = [(row[0], sum(g[1] for g in row[1:])) for row in SEED_TABLE1.values()]
    bad = {(u, total) for u, total in sums if u != total}
    assert {(int(a), int(b)) for a, b in pairs} == bad and len(bad) == 5
    g2 = [row[2][0] for row in SEED_TABLE1.values()]
    drops = [(a, b) for a, b in zip(g2[:-1], g2[1:], strict=True) if b < a]
    assert drops == [(6.68, 5.85), (23.22, 19.25)]
    assert "6.68 % to 5.85 %, then 23.22 % to 19.25 %" in page


def test_weights_not_summing_to_one_keep_the_identity_not_the_seed_first_term(small):
    """Docs: with sum w != 1 the seed's eq. (1)-(2) terms no longer add up; the report's
    (segment TE of u) still do."""
    rng, wT, seg, B, F, s = small
    d = make_data(wT, seg + 1, B, F, s)
    w = rng.uniform(0, 1, wT.size)
    w *= 0.8 / w.sum()
    t = _seed_terms(wT, seg, B, F, s, w)
    seed_sum = t["term1"] + (t["W"] ** 2 * t["within"]).sum() + t["d1"] + 2 * t["d2"]
    assert abs(seed_sum - t["total"]) > 1e-3 * t["total"]
    dc = decompose(d, w)
    assert abs(dc.residual) <= 1e-14 * t["total"]
    Wt = np.array([wT[seg == m].sum() for m in range(3)])
    u = ((t["W"] - Wt)[seg]) * wT / Wt[seg]
    S = B @ F @ B.T + np.diag(s)
    assert dc.segment_var == pytest.approx(u @ S @ u, rel=1e-10)
    assert dc.segment_var != pytest.approx(t["term1"], rel=1e-3)
