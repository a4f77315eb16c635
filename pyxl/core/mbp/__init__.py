"""Multiple-benchmark portfolio optimisation (seed 004): SBP/MBP in factor form.

Modules: :mod:`.model` (validated inputs, factor-form risk), :mod:`.decompose`
(TE decomposition of seed eq. 2), :mod:`.optimize` (cvxpy problems, duals,
infeasibility diagnosis), :mod:`.universe` (synthetic TSE-like universe),
:mod:`.study` (the seed Table 1 study), :mod:`.screen` (working-set re-solves of a
frontier, certified optimal by the duals), :mod:`.polish` (Newton on the solver's
active face: weights exact to ~1e-15, names not held exactly 0).
"""

from pyxl.core.mbp.decompose import HELD_THRESHOLD, Decomposition, decompose, names_held
from pyxl.core.mbp.model import MBPData, factor_root, make_data
from pyxl.core.mbp.optimize import (
    LimitInfo,
    Limits,
    MBPProblem,
    MBPResult,
    diagnose,
    frontier,
    optimize,
)
from pyxl.core.mbp.universe import Universe, make_universe

__all__ = [
    "HELD_THRESHOLD", "Decomposition", "decompose", "names_held",
    "MBPData", "factor_root", "make_data",
    "LimitInfo", "Limits", "MBPProblem", "MBPResult", "diagnose", "frontier", "optimize",
    "Universe", "make_universe",
]
