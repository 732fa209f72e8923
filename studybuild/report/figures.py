"""Figures of the reviewer report, drawn from :class:`~studybuild.report.endpoints.Endpoints`.

Each function returns PNG bytes (or ``None`` when there is nothing to draw). Rendering is
deterministic: the Agg renderer, matplotlib's default style reset for every figure, fixed size
and dpi, the bundled DejaVu font, and no "Software" text chunk, so the same endpoints give the
same bytes on every run (for one matplotlib version).
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pandas as pd

from studybuild.report.endpoints import DAYS_PER_MONTH, RESPONSE_ORDER, Endpoints

DPI = 110
WIDTH = 8.0   # inches: 880 px at DPI

# Okabe-Ito: distinguishable with the common colour-vision deficiencies
GROUP_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
RESPONSE_COLOURS = {"CR": "#0072B2", "PR": "#56B4E9", "SD": "#E69F00",
                    "NON-CR/NON-PD": "#CC79A7", "PD": "#D55E00", "NE": "#999999",
                    "MISSING": "#DDDDDD"}
RESPONSE_MARKERS = {"CR": "o", "PR": "^", "SD": "s", "NON-CR/NON-PD": "v", "PD": "D",
                    "NE": "o", "MISSING": "o"}
RESPONSE_NAMES = {"CR": "Complete response (CR)", "PR": "Partial response (PR)",
                  "SD": "Stable disease (SD)", "NON-CR/NON-PD": "Non-CR/non-PD",
                  "PD": "Progressive disease (PD)", "NE": "Not evaluable (NE)",
                  "MISSING": "No assessment"}
KM_YLABEL = {"PFS": "Probability of progression-free survival",
             "OS": "Probability of overall survival",
             "RSD": "Probability of remaining in response"}


def km_xlabel(ep: Endpoints, paramcd: str) -> str:
    """``Months since first dose`` (or enrolment, randomisation, first response): the origin
    read off ADTTE STARTDT by :func:`~studybuild.report.endpoints.compute_endpoints`."""
    origin = ep.km_origin.get(paramcd)
    return f"Months since {origin}" if origin else "Months since the start of follow-up " \
        "(ADTTE STARTDT)"


def waterfall_limits(pchg: np.ndarray) -> tuple[float, float]:
    """y limits fitted to the data, always showing the +20 % and -30 % RECIST lines: 10 points
    beyond the extreme bar (or line), rounded out to a multiple of 10, never below -105.

    >>> waterfall_limits(np.array([-38.0, 27.0]))
    (-50.0, 40.0)
    >>> waterfall_limits(np.array([-100.0, 5.0]))
    (-105.0, 30.0)
    """
    lo = min(float(np.nanmin(pchg)), -30.0) - 10.0
    hi = max(float(np.nanmax(pchg)), 20.0) + 10.0
    return float(max(np.floor(lo / 10.0) * 10.0, -105.0)), float(np.ceil(hi / 10.0) * 10.0)


_RC = {"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10,
       "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
       "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": DPI,
       "savefig.dpi": DPI, "path.simplify": False, "svg.hashsalt": "studybuild"}


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_RC)
        yield


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "\u2026"


def _colour(i: int) -> str:
    return GROUP_COLOURS[i % len(GROUP_COLOURS)]


def _fmt_months(days: float) -> str:
    return "NR" if np.isnan(days) else f"{days / DAYS_PER_MONTH:.1f}"


def km_figure(ep: Endpoints, paramcd: str) -> bytes | None:
    """Kaplan-Meier curves (one per group) with pointwise 95 % bands, censoring marks, the
    median in the legend and the numbers at risk in a table under the x axis."""
    from matplotlib.figure import Figure

    km = ep.km[ep.km["PARAMCD"] == paramcd]
    if km.empty:
        return None
    curves = ep.km_curves[ep.km_curves["PARAMCD"] == paramcd]
    cens = ep.km_censored[ep.km_censored["PARAMCD"] == paramcd]
    risk = ep.at_risk[ep.at_risk["PARAMCD"] == paramcd]
    groups = km["GROUP"].tolist()
    grid = np.sort(risk["time"].unique()) / DAYS_PER_MONTH
    t_max = max(float(curves["time"].max()) / DAYS_PER_MONTH, float(grid.max(initial=0.0)))
    xmax = max(t_max * 1.03, 1.0)
    pct = int(round(ep.conf_level * 100))
    with _style():
        rows = len(groups)
        legend_h = 0.19 * (rows + 1) + 0.08         # inches above the axes for the legend
        height = 4.0 + legend_h + 0.24 * (rows + 1)
        fig = Figure(figsize=(WIDTH, height))
        gs = fig.add_gridspec(2, 1, height_ratios=[3.4, 0.35 + 0.24 * rows], hspace=0.5)
        ax = fig.add_subplot(gs[0])
        tab = fig.add_subplot(gs[1], sharex=ax)
        for i, row in enumerate(km.to_dict("records")):   # one per treatment group
            g = row["GROUP"]
            c = curves[curves["GROUP"] == g]
            t = c["time"].to_numpy() / DAYS_PER_MONTH
            col = _colour(i)
            med = row["median"]
            lo, hi = row["lower"], row["upper"]
            ci = ("NE" if np.isnan(lo) else f"{lo / DAYS_PER_MONTH:.1f}") + ", " + \
                 ("NE" if np.isnan(hi) else f"{hi / DAYS_PER_MONTH:.1f}")
            ev = int(row["events"])
            label = (f"{_short(g, 34) + ': ' if rows > 1 else ''}median "
                     f"{_fmt_months(med)} months ({pct}% CI {ci}); "
                     f"{ev} event{'s' if ev != 1 else ''} in {int(row['n'])} subjects")
            ax.step(t, c["survival"], where="post", color=col, lw=1.6, label=label)
            ax.fill_between(t, c["lower"], c["upper"], step="post", color=col, alpha=0.13,
                            lw=0)
            k = cens[cens["GROUP"] == g]
            ax.plot(k["time"] / DAYS_PER_MONTH, k["survival"], ls="none", marker="|",
                    ms=7, mew=1.2, color=col)
        ax.axhline(0.5, color="#777777", lw=0.8, ls=":")
        ax.set_ylim(0, 1.04)
        ax.set_xlim(0, xmax)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_ylabel(KM_YLABEL.get(paramcd, "Probability"))
        ax.set_xlabel(km_xlabel(ep, paramcd))
        ax.set_xticks(grid)
        ax.set_xticklabels([f"{m:g}" for m in grid])
        ax.grid(axis="y", color="#eeeeee", lw=0.6)
        ax.plot([], [], ls="none", marker="|", ms=7, color="#555555", label="censored")
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), frameon=False, ncol=1,
                  borderaxespad=0.0, handlelength=1.6)
        fig.suptitle(str(km["PARAM"].iloc[0]), x=0.02, ha="left", y=1 - 0.08 / height,
                     fontsize=10)
        # numbers at risk, aligned with the x ticks
        tab.set_ylim(-0.5, rows - 0.5)
        tab.invert_yaxis()
        for i, g in enumerate(groups):
            r = risk[risk["GROUP"] == g]
            for t, n in zip(r["time"] / DAYS_PER_MONTH, r["n_at_risk"]):
                tab.text(t, i, str(int(n)), ha="center", va="center", fontsize=8,
                         color=_colour(i))
        tab.set_yticks(range(rows))
        tab.set_yticklabels([_short(g, 24) if rows > 1 else "At risk" for g in groups],
                            fontsize=8)
        for lab, i in zip(tab.get_yticklabels(), range(rows)):
            lab.set_color(_colour(i))
        tab.tick_params(axis="x", labelbottom=False, length=0)
        tab.tick_params(axis="y", length=0, pad=16)
        for s in ("top", "right", "bottom", "left"):
            tab.spines[s].set_visible(False)
        tab.set_title("Number at risk", loc="left", fontsize=9)
        fig.subplots_adjust(left=0.22 if rows > 1 else 0.12, right=0.97,
                            top=1 - (legend_h + 0.32) / height, bottom=0.1 / height)
        return _png(fig)


def waterfall_figure(ep: Endpoints) -> bytes | None:
    """Best percentage change of the target-lesion sum per subject, one bar each, coloured by
    best overall response, with the RECIST +20 % and -30 % lines; one panel per group."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    wf = ep.waterfall
    if wf.empty:
        return None
    groups = [g for g in ep.groups if (wf["GROUP"] == g).any()]
    groups += sorted(set(wf["GROUP"]) - set(groups))
    present = [r for r in RESPONSE_ORDER if (wf["RESPONSE"] == r).any()] + \
        sorted(set(wf["RESPONSE"]) - set(RESPONSE_ORDER))
    ncol = min(len(present), 4)
    legend_h = 0.35 + 0.2 * int(np.ceil(len(present) / ncol))
    panel_h = 3.0
    height = legend_h + panel_h * len(groups) + 0.1
    bottom, top = waterfall_limits(wf["PCHG"].to_numpy(dtype="float64"))
    with _style():
        fig = Figure(figsize=(WIDTH, height))
        axes = fig.subplots(len(groups), 1, squeeze=False)[:, 0]
        for ax, g in zip(axes, groups):          # one panel per treatment group
            w = wf[wf["GROUP"] == g]
            n = len(w)
            x = np.arange(n)
            colours = [RESPONSE_COLOURS.get(r, "#BBBBBB") for r in w["RESPONSE"]]
            if n <= 40:
                ax.bar(x, w["PCHG"], color=colours, edgecolor="#555555", linewidth=0.4,
                       width=0.8)
            else:       # the same bars as one collection: one Rectangle per bar costs ~2 ms
                _bars(ax, x, w["PCHG"].to_numpy(dtype=float), colours, width=0.8)
            ax.axhline(20, color="#D55E00", lw=0.9, ls="--")
            ax.axhline(-30, color="#0072B2", lw=0.9, ls="--")
            ax.axhline(0, color="#333333", lw=0.6)
            ax.text(1.0, 20, " +20%", transform=ax.get_yaxis_transform(), va="center",
                    fontsize=7, color="#D55E00", clip_on=False)
            ax.text(1.0, -30, " \u221230%", transform=ax.get_yaxis_transform(), va="center",
                    fontsize=7, color="#0072B2", clip_on=False)
            ax.set_ylim(bottom, top)
            pad = max(0.0, (12 - n) / 2)         # keep bars slim when there are few
            ax.set_xlim(-0.7 - pad, n - 0.3 + pad)
            ax.set_ylabel("Best % change from baseline\nin sum of diameters")
            if n <= 40:
                ax.set_xticks(x)
                ax.set_xticklabels(w["SUBJID"], rotation=90, fontsize=7)
            else:
                ax.set_xticks([])
            ax.set_xlabel(f"Subjects (n = {n}), ordered by best change"
                          + ("" if n <= 40 else "; one bar each"))
            if len(groups) > 1:
                ax.set_title(g, loc="left")
        handles = [Patch(facecolor=RESPONSE_COLOURS.get(r, "#BBBBBB"), edgecolor="#555555",
                         linewidth=0.4, label=RESPONSE_NAMES.get(r, r)) for r in present]
        basis = "confirmed" if ep.response_basis == "CBOR" else "unconfirmed"
        fig.legend(handles=handles, title=f"Best overall response ({basis})",
                   loc="upper left", bbox_to_anchor=(0.1, 1 - 0.05 / height), ncol=ncol,
                   frameon=False, fontsize=8, title_fontsize=8, alignment="left")
        fig.subplots_adjust(left=0.12, right=0.93, top=1 - (legend_h + 0.1) / height,
                            bottom=0.75 / height, hspace=0.9 if len(groups) > 1 else 0.2)
        return _png(fig)


def _bars(ax, x: np.ndarray, heights: np.ndarray, colours: list[str], *, width: float) -> None:
    """Bars from 0 to ``heights`` centred on ``x``, drawn as one PolyCollection (what
    ``ax.bar`` draws, without a Patch object per bar); missing heights draw nothing."""
    from matplotlib.collections import PolyCollection

    ok = np.isfinite(heights)
    x, h = x[ok], heights[ok]
    left, right = x - width / 2, x + width / 2
    zero = np.zeros_like(h)
    verts = np.stack([np.column_stack(p) for p in ((left, zero), (left, h), (right, h),
                                                    (right, zero))], axis=1)
    ax.add_collection(PolyCollection(verts, facecolors=[c for c, k in zip(colours, ok) if k],
                                     edgecolors="#555555", linewidths=0.4))


def _tint(colour: str, amount: float = 0.55) -> str:
    """A lighter shade of a hex colour (mixed with white), so markers stay visible on bars."""
    from matplotlib.colors import to_hex, to_rgb

    r, g, b = to_rgb(colour)
    return to_hex((r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount))


def swimmer_figure(ep: Endpoints) -> bytes | None:
    """One bar per subject from first dose to last dose (arrow: still on treatment), a thin
    line for follow-up after treatment, and a marker at each overall response assessment."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    sw = ep.swimmer
    if sw.empty:
        return None
    ev = ep.swimmer_events
    n = len(sw)
    groups = [g for g in ep.groups if (sw["GROUP"] == g).any()]
    groups += sorted(set(sw["GROUP"]) - set(groups))
    gcol = {g: ("#B9C9DD" if len(groups) == 1 else _tint(_colour(i)))
            for i, g in enumerate(groups)}
    present = [r for r in RESPONSE_ORDER if (ev["AVALC"] == r).any()] + \
        sorted(set(ev["AVALC"]) - set(RESPONSE_ORDER))
    dur = sw["duration"].to_numpy(dtype="float64") / DAYS_PER_MONTH
    fu = sw["followup_end"].to_numpy(dtype="float64") / DAYS_PER_MONTH
    has_fu = ~np.isnan(fu)
    on = sw["ongoing"].to_numpy(dtype=bool)
    dd = sw["death_day"].to_numpy(dtype="float64") / DAYS_PER_MONTH
    dead = ~np.isnan(dd)
    n_handles = len(present) + len(groups) + int(has_fu.any()) + int(on.any()) + \
        int(dead.any())
    ncol = 3
    legend_h = 0.2 * int(np.ceil(n_handles / ncol)) + 0.15
    plot_h = 0.5 + 0.2 * n
    height = 0.25 + plot_h + 0.55 + legend_h
    with _style():
        fig = Figure(figsize=(WIDTH, height))
        ax = fig.add_subplot(1, 1, 1)
        y = np.arange(n)[::-1].astype("float64")       # longest at the top
        ypos = pd.Series(y, index=sw["USUBJID"].to_numpy())
        ax.barh(y, dur, height=0.62, color=[gcol[g] for g in sw["GROUP"]], edgecolor="none")
        ax.hlines(y[has_fu], dur[has_fu], fu[has_fu], color="#888888", lw=0.9)
        xend = float(np.nanmax(np.concatenate([dur, fu[has_fu], dd[dead], [1.0]])))
        ax.plot(dur[on] + 0.012 * xend, y[on], ls="none", marker=">", ms=6, color="#333333")
        ax.plot(dd[dead], y[dead], ls="none", marker="X", ms=6, color="#000000")

        def style(r: str) -> dict:
            hollow = r in ("NE", "MISSING")
            return {"marker": RESPONSE_MARKERS.get(r, "o"), "ms": 5.5,
                    "mfc": "white" if hollow else RESPONSE_COLOURS.get(r, "#BBBBBB"),
                    "mec": "#222222", "mew": 0.6}

        for r in present:                                  # one marker layer per category
            e = ev[ev["AVALC"] == r]
            ax.plot(e["day"].to_numpy(dtype="float64") / DAYS_PER_MONTH,
                    ypos.reindex(e["USUBJID"]).to_numpy(), ls="none", **style(r))
        ax.set_yticks(y)
        ax.set_yticklabels(sw["SUBJID"], fontsize=7 if n > 30 else 8)
        ax.set_ylim(-0.8, n - 0.2)
        ax.set_xlim(0, xend * 1.05)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 3, 6, 10]))
        ax.set_xlabel("Months since first dose")
        ax.set_ylabel("Subject")
        ax.grid(axis="x", color="#eeeeee", lw=0.6)
        handles = [Line2D([], [], ls="none", label=RESPONSE_NAMES.get(r, r), **style(r))
                   for r in present]
        handles += [Patch(color=gcol[g], label=("On treatment" if len(groups) == 1
                                                else f"On treatment: {_short(g, 30)}"))
                    for g in groups]
        if has_fu.any():
            handles.append(Line2D([], [], color="#888888", lw=0.9,
                                  label="Follow-up after treatment"))
        if on.any():
            handles.append(Line2D([], [], ls="none", marker=">", color="#333333",
                                  label="Treatment ongoing"))
        if dead.any():
            handles.append(Line2D([], [], ls="none", marker="X", color="#000000",
                                  label="Death"))
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.1, 0.02 / height),
                   ncol=ncol, frameon=False, fontsize=8)
        fig.subplots_adjust(left=0.1, right=0.97, top=1 - 0.25 / height,
                            bottom=(0.55 + legend_h) / height)
        return _png(fig)
