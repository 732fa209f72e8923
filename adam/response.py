"""RECIST 1.1 response rules and the predefined response events (as admiralonco's).

:class:`ConfirmationRule` and :class:`ResponseRules` are the typed choices; :func:`recist_events`
returns the events that :func:`adam.derive.derive_extreme_event` combines into BOR, CBOR, RSP,
CRSP, CB, CCB — the same building blocks as admiralonco's ``bor_cr``, ``cbor_pr``, ``cb_y``...

Defaults are admiralonco's template:

- a CR is confirmed by a CR at least 28 days later, with at most one NE in between and nothing
  else;
- a PR is confirmed by a CR or PR at least 28 days later, at most one NE in between, nothing
  else, and no PR after a CR in between;
- SD (and NON-CR/NON-PD) counts for BOR and clinical benefit only on or after the reference
  date (randomisation) + 42 days (``sd_min_days``), minus ``sd_window_days`` (0);
- a CR/PR/SD too early for SD makes BOR NE; no assessment at all makes BOR MISSING.

The confirmation is computed for every assessment at once (sorting, prefix counts and a
binary search), so its cost grows linearly with the number of assessments.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from adam._frame import SUBJECT_KEYS, day_numbers, group_codes, order_positions
from adam.derive import Event


class ConfirmationRule(BaseModel):
    """When a CR/PR counts as confirmed.

    >>> ConfirmationRule()
    ConfirmationRule(min_days=28, max_ne=1, no_pr_after_cr=True)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_days: int = Field(28, ge=0, description="days from the response to its confirmation")
    max_ne: int = Field(1, ge=0, description="NE assessments allowed in between")
    no_pr_after_cr: bool = Field(True, description="a PR after a CR in between breaks a PR's "
                                                   "confirmation")


class ResponseRules(BaseModel):
    """The study's RECIST 1.1 choices for best overall response.

    >>> ResponseRules(sd_window_days=7).sd_days
    35
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    reference_date: str = Field("RANDDT", description="ADSL date SD is timed from")
    sd_min_days: int = Field(42, ge=0)
    sd_window_days: int = Field(0, ge=0)
    confirmation: ConfirmationRule = ConfirmationRule()

    @property
    def sd_days(self) -> int:
        return self.sd_min_days - self.sd_window_days


RESPONSES = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")


def confirmed_mask(ovr: pd.DataFrame, *, response: Literal["CR", "PR"],
                   rule: ConfirmationRule = ConfirmationRule(),
                   by_vars: Sequence[str] = SUBJECT_KEYS) -> np.ndarray:
    """For each assessment of ``ovr`` (AVALC, ADT): is it a ``response`` that is confirmed?

    ``ovr`` holds the assessments that count (one per date, up to the first PD). For a
    response at date t, the confirming assessment is the first later one at t + min_days or
    after that is CR (for CR) or CR/PR (for PR); the assessments after t up to and including
    it may only be CR/NE (CR) or CR/PR/NE (PR), with at most ``max_ne`` NE.

    >>> ovr = pd.DataFrame({"USUBJID": ["1"] * 4, "ADT": pd.to_datetime(
    ...     ["2021-01-01", "2021-01-22", "2021-02-12", "2021-03-05"]),
    ...     "AVALC": ["SD", "PR", "NE", "PR"]})
    >>> confirmed_mask(ovr, response="PR", by_vars=["USUBJID"]).tolist()
    [False, True, False, False]
    """
    n = len(ovr)
    if n == 0:
        return np.zeros(0, dtype=bool)
    g = group_codes(ovr, by_vars)
    pos = order_positions(ovr, ["ADT"], g)
    gs = g[pos]
    t = day_numbers(ovr["ADT"])[pos]
    a = ovr["AVALC"].to_numpy(dtype=object)[pos]
    okt = ~np.isnan(t)
    tmin = np.nanmin(t) if okt.any() else 0.0
    span = (np.nanmax(t) - tmin if okt.any() else 0.0) + rule.min_days + 2
    # sortable key (group, time); missing dates sort to the group's end
    tt = np.where(okt, t - tmin, span - 1)
    key = gs.astype("float64") * span + tt
    target = key + rule.min_days
    k = np.searchsorted(key, target, side="left")
    k = np.maximum(k, np.arange(n) + 1)
    if response == "CR":
        conf = a == "CR"
        allowed = np.isin(a, ["CR", "NE"])
    else:
        conf = np.isin(a, ["CR", "PR"])
        allowed = np.isin(a, ["CR", "PR", "NE"])
    conf = conf & okt
    idx = np.where(conf, np.arange(n), n)
    nxt = np.append(np.minimum.accumulate(idx[::-1])[::-1], n)
    j = nxt[np.minimum(k, n)]
    jj = np.minimum(j, n - 1)
    found = (j < n) & (gs[jj] == gs)
    cs_ne = np.r_[0, np.cumsum(a == "NE")]
    cs_bad = np.r_[0, np.cumsum(~allowed)]
    # counts over the window (i, j]: prefix sums over sorted rows, cs[x] = count in rows < x
    n_ne = cs_ne[jj + 1] - cs_ne[np.arange(n) + 1]
    n_bad = cs_bad[jj + 1] - cs_bad[np.arange(n) + 1]
    ok = (a == response) & okt & found & (n_ne <= rule.max_ne) & (n_bad == 0)
    if response == "PR" and rule.no_pr_after_cr:
        is_cr = a == "CR"
        is_pr = a == "PR"
        cidx = np.where(is_cr, np.arange(n), n)
        next_cr = np.append(np.minimum.accumulate(cidx[::-1])[::-1], n)
        pidx = np.where(is_pr, np.arange(n), -1)
        last_pr = np.maximum.accumulate(pidx)
        fc = next_cr[np.arange(n) + 1]           # first CR after i
        lp = last_pr[jj]                        # last PR at or before j
        has_cr = fc <= jj
        has_pr = lp > np.arange(n)
        tfc = t[np.minimum(fc, n - 1)]
        tlp = t[np.maximum(lp, 0)]
        ok &= ~has_cr | ~has_pr | (tfc > tlp)
    out = np.zeros(n, dtype=bool)
    out[pos] = ok
    return out


def _days_from(d: pd.DataFrame, ref: str) -> np.ndarray:
    return day_numbers(d["ADT"]) - day_numbers(d[ref])


def recist_events(rules: ResponseRules = ResponseRules(), *,
                  by_vars: Sequence[str] = SUBJECT_KEYS) -> dict[str, Event]:
    """The response events, keyed by admiralonco's names, reading the source dataset ``ovr``
    (assessments that count, with AVALC, ADT and the reference date) and ``adsl``.

    >>> sorted(recist_events())[:4]
    ['bor_cr', 'bor_ne', 'bor_non_crpd', 'bor_pd']
    """
    ref = rules.reference_date
    sd = rules.sd_days
    conf = rules.confirmation
    by_vars = list(by_vars)

    def late(d: pd.DataFrame) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return _days_from(d, ref) >= sd

    return {
        "rsp_y": Event("ovr", lambda d: d["AVALC"].isin(["CR", "PR"]), {"AVALC": "Y"},
                       description="CR or PR (unconfirmed response)"),
        "cb_y": Event("ovr", lambda d: d["AVALC"].isin(["CR", "PR", "SD", "NON-CR/NON-PD"])
                      .to_numpy() & late(d), {"AVALC": "Y"},
                      description=f"CR, PR, SD or NON-CR/NON-PD at least {sd} days after "
                                  f"{ref}"),
        "bor_cr": Event("ovr", lambda d: d["AVALC"].eq("CR"), {"AVALC": "CR"},
                        description="CR"),
        "bor_pr": Event("ovr", lambda d: d["AVALC"].eq("PR"), {"AVALC": "PR"},
                        description="PR"),
        "bor_sd": Event("ovr", lambda d: d["AVALC"].isin(["CR", "PR", "SD"]).to_numpy()
                        & late(d), {"AVALC": "SD"},
                        description=f"CR, PR or SD at least {sd} days after {ref}"),
        "bor_non_crpd": Event("ovr", lambda d: d["AVALC"].eq("NON-CR/NON-PD").to_numpy()
                              & late(d), {"AVALC": "NON-CR/NON-PD"},
                              description=f"NON-CR/NON-PD at least {sd} days after {ref}"),
        "bor_pd": Event("ovr", lambda d: d["AVALC"].eq("PD"), {"AVALC": "PD"},
                        description="PD"),
        "bor_ne": Event("ovr", lambda d: d["AVALC"].isin(["CR", "PR", "SD", "NON-CR/NON-PD",
                                                          "NE"]), {"AVALC": "NE"},
                        description="any assessment that is neither PD nor late enough for SD"),
        "no_data_missing": Event("adsl", None, {"AVALC": "MISSING"},
                                 keep_source_vars=(*SUBJECT_KEYS, ref),
                                 description="no assessment"),
        "no_data_n": Event("adsl", None, {"AVALC": "N"}, keep_source_vars=(*SUBJECT_KEYS, ref),
                           description="no response"),
        "crsp_y_cr": Event("ovr", lambda d: confirmed_mask(d, response="CR", rule=conf,
                                                           by_vars=by_vars),
                           {"AVALC": "Y"}, description="confirmed CR"),
        "crsp_y_pr": Event("ovr", lambda d: confirmed_mask(d, response="PR", rule=conf,
                                                           by_vars=by_vars),
                           {"AVALC": "Y"}, description="confirmed PR"),
        "cbor_cr": Event("ovr", lambda d: confirmed_mask(d, response="CR", rule=conf,
                                                         by_vars=by_vars),
                         {"AVALC": "CR"}, description="confirmed CR"),
        "cbor_pr": Event("ovr", lambda d: confirmed_mask(d, response="PR", rule=conf,
                                                         by_vars=by_vars),
                         {"AVALC": "PR"}, description="confirmed PR"),
    }


__all__ = ["ConfirmationRule", "RESPONSES", "ResponseRules", "confirmed_mask", "recist_events"]
