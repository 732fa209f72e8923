"""Simon's two-stage designs (Simon R. Optimal two-stage designs for phase II clinical trials.
Control Clin Trials 1989;10:1-10), by exact binomial sums: the justification of the
surufatinib-envafolimab-sts sample size in its simulation.yaml.

>>> d = simon_two_stage(0.10, 0.25, alpha=0.05, beta=0.20)     # doctest: +SKIP
>>> (d["optimal"].r1, d["optimal"].n1, d["optimal"].r, d["optimal"].n)   # doctest: +SKIP
(2, 18, 7, 43)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimonDesign:
    """Stop after stage 1 if responders <= r1 of n1; reject H0 if responders > r of n."""

    r1: int
    n1: int
    r: int
    n: int
    alpha: float            # P(reject H0 | p0)
    power: float            # P(reject H0 | p1)
    en0: float              # expected sample size under H0
    pet0: float             # probability of early termination under H0


def _tables(p: float, n_max: int) -> tuple[list, list]:
    """Binomial pmf and survival P(X > k) for every size 0..n_max (k from -1 to size)."""
    from scipy.stats import binom

    pmf = [binom.pmf(np.arange(m + 1), m, p) for m in range(n_max + 1)]
    sf = [binom.sf(np.arange(-1, m + 1), m, p) for m in range(n_max + 1)]
    return pmf, sf


def _reject_prob(n1: int, n: int, pmf: list, sf: list) -> np.ndarray:
    """P(X1 > r1 and X1 + X2 > r) for every r1 in 0..n1 and r in 0..n (rows r1, cols r)."""
    n2 = n - n1
    x1 = np.arange(n1 + 1)
    r = np.arange(n + 1)
    k = np.clip(r[None, :] - x1[:, None], -1, n2)         # P(X2 > k), k = -1 means certain
    m = pmf[n1][:, None] * sf[n2][k + 1]
    tail = np.cumsum(m[::-1], axis=0)[::-1]                 # sum over x1 > r1
    out = np.zeros((n1 + 1, n + 1))
    out[:-1] = tail[1:]
    return out


def simon_two_stage(p0: float, p1: float, *, alpha: float = 0.05, beta: float = 0.20,
                    n_max: int = 80) -> dict[str, SimonDesign]:
    """Optimal (smallest expected size under H0) and minimax (smallest maximum size) designs."""
    pmf0, sf0 = _tables(p0, n_max)
    pmf1, sf1 = _tables(p1, n_max)
    best: dict[str, tuple] = {}
    for n in range(2, n_max + 1):
        for n1 in range(1, n):
            a = _reject_prob(n1, n, pmf0, sf0)
            b = _reject_prob(n1, n, pmf1, sf1)
            r1 = np.arange(n1 + 1)[:, None]
            r = np.arange(n + 1)[None, :]
            ok = (a <= alpha) & (b >= 1 - beta) & (r >= r1) & (r1 < n1)
            if not ok.any():
                continue
            pet0 = np.cumsum(pmf0[n1])
            en0 = n1 + (1 - pet0) * (n - n1)
            i, j = np.nonzero(ok)
            k = np.argmin(en0[i])
            cand = (float(en0[i[k]]), n, int(i[k]), n1, int(j[k]), float(a[i[k], j[k]]),
                    float(b[i[k], j[k]]), float(pet0[i[k]]))
            if "optimal" not in best or cand[0] < best["optimal"][0] - 1e-12:
                best["optimal"] = cand
            key = (n, cand[0])
            if "minimax" not in best or key < (best["minimax"][1], best["minimax"][0]):
                best["minimax"] = cand
    if not best:
        raise ValueError(f"no design with n <= {n_max} meets alpha {alpha} and power {1 - beta}")
    return {name: SimonDesign(r1=c[2], n1=c[3], r=c[4], n=c[1], alpha=c[5], power=c[6], en0=c[0],
                              pet0=c[7]) for name, c in best.items()}


def inflate(n: int, non_evaluable: float) -> int:
    """Enrolment that leaves about ``n`` evaluable subjects: n x (1 + non_evaluable), rounded."""
    return int(round(n * (1 + non_evaluable)))
