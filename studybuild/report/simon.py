"""Simon's (1989) two-stage designs for a single-arm response endpoint: the search and the
decision at each stage.

A design ``(r1, n1, r, n)``: enrol ``n1`` subjects; stop for futility when ``X1 <= r1`` of them
respond; otherwise enrol to ``n`` and call the treatment promising when ``X1 + X2 > r``. With
``X1 ~ Bin(n1, p)`` and ``X2 ~ Bin(n - n1, p)`` independent,

    P(reject H0 | p) = sum_{x1 = r1+1}^{n1} P(X1 = x1) * P(X2 > r - x1),
    PET(p) = P(X1 <= r1),  EN(p) = n1 + (1 - PET(p)) * (n - n1).

A design is admissible when P(reject | p0) <= alpha and P(reject | p1) >= power. The *optimal*
design minimises EN(p0) over every admissible design with ``n <= n_max``; the *minimax* design
minimises ``n`` and then EN(p0). For each ``(n, n1)`` every ``(r1, r)`` pair is evaluated at
once as a cumulative sum over ``x1`` (numpy), so the search is a loop over ``(n, n1)`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class SimonDesign:
    """A two-stage design with its operating characteristics under p0 and p1."""

    p0: float
    p1: float
    r1: int
    n1: int
    r: int
    n: int
    alpha: float          # attained P(reject H0 | p0)
    power: float          # attained P(reject H0 | p1)
    pet0: float           # probability of early termination under p0
    en0: float            # expected sample size under p0


@lru_cache(maxsize=512)
def _pmf_sf(size: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """P(X = x) and P(X > x) for x = 0..size, X ~ Bin(size, p)."""
    from scipy.stats import binom

    x = np.arange(size + 1)
    return binom.pmf(x, size, p), binom.sf(x, size, p)


def _reject_matrix(n1: int, n: int, p: float) -> np.ndarray:
    """P(reject H0 | p) for every (r1, r), r1 in 0..n1, r in 0..n (rows r1, columns r)."""
    n2 = n - n1
    x1 = np.arange(n1 + 1)
    f1 = _pmf_sf(n1, p)[0]
    sf2 = np.append(_pmf_sf(n2, p)[1], 0.0)               # P(X2 > k), k = 0..n2, then 0
    r = np.arange(n + 1)
    k = r[None, :] - x1[:, None]                         # responses still needed beyond x1
    s2 = np.where(k < 0, 1.0, sf2[np.clip(k, 0, n2 + 1)])   # P(X2 > r - x1)
    m = f1[:, None] * s2                                  # (x1, r)
    # sum over x1 > r1: reverse cumulative sum shifted by one row
    tail = np.cumsum(m[::-1], axis=0)[::-1]               # sum over x1 >= row
    return np.vstack([tail[1:], np.zeros((1, n + 1))])    # row r1: sum over x1 >= r1 + 1


def operating_characteristics(r1: int, n1: int, r: int, n: int, p0: float, p1: float
                              ) -> SimonDesign:
    """Attained alpha, power, PET(p0) and EN(p0) of a given design.

    >>> d = operating_characteristics(0, 9, 2, 17, 0.05, 0.25)
    >>> round(d.pet0, 3), round(d.en0, 1)
    (0.63, 12.0)
    """
    from scipy.stats import binom

    a = float(_reject_matrix(n1, n, p0)[r1, r])
    pw = float(_reject_matrix(n1, n, p1)[r1, r])
    pet = float(binom.cdf(r1, n1, p0))
    return SimonDesign(p0, p1, r1, n1, r, n, a, pw, pet, n1 + (1 - pet) * (n - n1))


def simon_design(p0: float, p1: float, alpha: float, power: float, *,
                 criterion: Literal["optimal", "minimax"] = "optimal",
                 n_max: int = 100) -> SimonDesign | None:
    """Search every design with ``n <= n_max`` for Simon's optimal (least EN(p0)) or minimax
    (least n, then least EN(p0)) design; ties go to the smaller n, n1, r1, r. None when no
    design of at most ``n_max`` subjects meets alpha and power.

    >>> d = simon_design(0.05, 0.25, 0.05, 0.80)
    >>> f"{d.r1}/{d.n1}, {d.r}/{d.n}"
    '0/9, 2/17'
    """

    if not 0 < p0 < p1 < 1:
        raise ValueError("need 0 < p0 < p1 < 1")
    eps = 1e-12
    best: tuple | None = None
    for n in range(2, n_max + 1):              # a loop over candidate sample sizes
        if criterion == "minimax" and best is not None:
            break                              # the smallest n with a design is found
        for n1 in range(1, n):
            rej0 = _reject_matrix(n1, n, p0)[:n1]            # r1 = 0..n1-1
            rej1 = _reject_matrix(n1, n, p1)[:n1]
            r1s, rs = np.meshgrid(np.arange(n1), np.arange(n + 1), indexing="ij")
            ok = (rej0 <= alpha + eps) & (rej1 >= power - eps) & (rs >= r1s) & (rs < n)
            if not ok.any():
                continue
            i, j = np.nonzero(ok)
            pet = 1.0 - _pmf_sf(n1, p0)[1][i]
            en = n1 + (1 - pet) * (n - n1)
            order = np.lexsort((j, i, en))                   # least EN, then r1, then r
            k = order[0]
            key = ((round(float(en[k]), 10), n) if criterion == "optimal"
                   else (n, round(float(en[k]), 10)))
            cand = key + (n1, int(i[k]), int(j[k]))
            if best is None or cand < best:
                best = cand
    if best is None:
        return None
    n1, r1, r = best[2], best[3], best[4]
    n = best[1] if criterion == "optimal" else best[0]
    return operating_characteristics(r1, n1, r, n, p0, p1)


__all__ = ["SimonDesign", "operating_characteristics", "simon_design"]
