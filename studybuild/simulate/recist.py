"""RECIST 1.1 response categories from measurements, vectorised (integer millimetres).

Rules the simulator applies (and documents in ``docs/simulator.md``):

- Target: PD if the sum is >= 120 % of the nadir (smallest sum so far, baseline included) and
  at least 5 mm above it, checked first and also when a lesion is not evaluable (the others
  already show it); otherwise NE if a lesion is not evaluable; CR if every non-nodal lesion
  is 0 mm and every lymph node is < 10 mm short axis; PR if the sum is <= 70 % of baseline;
  otherwise SD.
- Non-target: NA without non-target lesions; PD if one shows unequivocal progression; CR if
  all are absent; otherwise NON-CR/NON-PD.
- Overall: PD if target PD, non-target PD or a new lesion; else NE if target NE; CR if target
  CR and non-target CR or NA; PR if target CR or PR; SD otherwise.
"""

from __future__ import annotations

import numpy as np

CR, PR, SD, NONCRNONPD, PD, NE, NA = 0, 1, 2, 3, 4, 5, 6
CODES = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "NA")

# CRF display text (rs.csv) for the codes
TARGET_TEXT = ("Complete Response", "Partial Response", "Stable Disease", "Non-CR/Non-PD",
               "Progressive Disease", "Not Evaluable", "Not Applicable")


def target_response(sum_mm, any_ne, all_gone, baseline_mm, nadir_mm) -> np.ndarray:
    s = np.asarray(sum_mm, dtype=float)
    nadir = np.asarray(nadir_mm, dtype=float)
    base = np.asarray(baseline_mm, dtype=float)
    is_pd = (10 * s >= 12 * nadir) & (s - nadir >= 5)
    is_pr = 10 * s <= 7 * base
    out = np.where(is_pd, PD, np.where(any_ne, NE, np.where(all_gone, CR,
                   np.where(is_pr, PR, SD))))
    return out.astype(np.int8)


def nontarget_response(n_lesions, any_progression, all_absent) -> np.ndarray:
    n = np.asarray(n_lesions)
    out = np.where(n == 0, NA, np.where(any_progression, PD,
                   np.where(all_absent, CR, NONCRNONPD)))
    return out.astype(np.int8)


def overall_response(target, nontarget, new) -> np.ndarray:
    t = np.asarray(target)
    nt = np.asarray(nontarget)
    out = np.where((t == PD) | (nt == PD) | np.asarray(new, dtype=bool), PD,
                   np.where(t == NE, NE,
                   np.where((t == CR) & ((nt == CR) | (nt == NA)), CR,
                   np.where((t == CR) | (t == PR), PR, SD))))
    return out.astype(np.int8)
