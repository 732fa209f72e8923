"""Real-world mess on the formatted forms (partial dates, coded-field variants, verbatim typos,
non-ASCII and Chinese free text, duplicated log lines). Each kind has its own random stream, so
a switch changes only what it claims; every change is logged for ``_truth/mess.csv``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studybuild.simulate._util import (FULL, NO_DAY, NO_DAY_MONTH, NO_DAY_MONTH_UNK, NO_DAY_UNK,
                                       Streams, fmt_dates, take)


def _obj(values: np.ndarray, df: pd.DataFrame) -> pd.Series:
    """An object-dtype column for ``df`` (see forms.frame)."""
    return pd.Series(values, dtype=object, index=df.index)


class MessLog:
    COLUMNS = ["form", "_subj", "FolderName", "InstanceName", "RecordPosition", "field", "kind",
               "clean", "written"]

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, form: str, df: pd.DataFrame, mask: np.ndarray, field: str, kind: str,
            clean, written) -> None:
        """Log the rows of ``df`` under ``mask``; ``clean``/``written`` are full-length arrays,
        scalars, or arrays already restricted to the masked rows."""
        mask = np.asarray(mask, dtype=bool)
        k = int(mask.sum())
        if not k:
            return
        idx = np.flatnonzero(mask)

        def pick(v):
            if np.ndim(v) == 0:
                return v
            v = np.asarray(v, dtype=object)
            return v if len(v) == k and len(v) != len(mask) else v[idx]

        part = {"form": np.full(k, form, dtype=object), "_subj": df["_subj"].to_numpy()[idx],
                "FolderName": df["FolderName"].to_numpy()[idx],
                "InstanceName": df["InstanceName"].to_numpy()[idx],
                "RecordPosition": df["RecordPosition"].to_numpy()[idx],
                "field": np.full(k, field, dtype=object), "kind": np.full(k, kind, dtype=object),
                "clean": np.broadcast_to(np.asarray(pick(clean), dtype=object), (k,)),
                "written": np.broadcast_to(np.asarray(pick(written), dtype=object), (k,))}
        self.parts.append(part)

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=self.COLUMNS)
        return pd.DataFrame({c: np.concatenate([p[c] for p in self.parts]) for c in self.COLUMNS})


def format_dates(df: pd.DataFrame, form_key: str, form, mess, streams: Streams, log: MessLog,
                 death: np.ndarray | None = None) -> None:
    """Date fields to CRF text; partial-allowed ones lose their day (or day and month) at the
    ``partial_dates`` rate.

    A death date is made partial per subject (one draw per subject, the same whichever form
    it is on), and the disposition forms copy it: the End of Treatment and End of Study dates
    whose reason is Death show the same partial date as the Death Report, as a site that does
    not know the day of death writes it on every form (a complete date there would contradict
    DM.DTHDTC: P21 SD1317). ``death`` is :func:`death_kinds` (drawn once per export)."""
    for f in form.fields:
        if f.kind not in ("date", "pdate"):
            continue
        days = df[f.name].to_numpy(dtype=float)
        kind = np.full(len(df), FULL, dtype=np.int64)
        sel = np.zeros(len(df), dtype=bool)
        if death is not None and (f.name == "DTHDAT" or (
                form_key in ("eot", "eos") and f.name == "DSSTDAT" and "DSDECOD" in df)):
            k = death[df["_subj"].to_numpy()]
            if f.name != "DTHDAT":
                k = np.where(df["DSDECOD"].to_numpy(dtype=object) == "Death", k, FULL)
            sel = (k != FULL) & ~np.isnan(days)
            kind = np.where(sel, k, FULL)
        elif f.kind == "pdate":
            rng = streams(f"mess_partial:{form_key}:{f.name}")
            u = rng.random(len(df))
            how = rng.random(len(df))
            unk = rng.random(len(df)) < 0.25
            sel = (u < mess.partial_dates) & ~np.isnan(days)
            k = np.where(how < 0.6, np.where(unk, NO_DAY_UNK, NO_DAY),
                         np.where(unk, NO_DAY_MONTH_UNK, NO_DAY_MONTH))
            kind = np.where(sel, k, FULL)
        if sel.any():
            log.add(form_key, df, sel, f.name, "partial_date", fmt_dates(days[sel]),
                    fmt_dates(days[sel], kind[sel]))
        df[f.name] = _obj(fmt_dates(days, kind), df)


def death_kinds(streams: Streams, mess, n: int) -> np.ndarray:
    """Per subject: how a death date is written (FULL, or without its day, as ``UN-SEP-2024``
    or ``SEP-2024``), drawn once from its own stream."""
    rng = streams("mess_partial:death")
    u, how, unk = rng.random(n), np.minimum(rng.random(n), 0.5), rng.random(n) < 0.25
    k = np.where(how < 0.6, np.where(unk, NO_DAY_UNK, NO_DAY),
                 np.where(unk, NO_DAY_MONTH_UNK, NO_DAY_MONTH))
    return np.where(u < mess.partial_dates, k, FULL)


def _variants(value: str, synonyms: dict) -> list[str]:
    out = []
    for v in list(synonyms.get(value, [])) + [value.lower(), value.upper()]:
        if v != value and v not in out:
            out.append(v)
    return out


def coded_variants(df: pd.DataFrame, form_key: str, form, mess, voc: dict, streams: Streams,
                   log: MessLog) -> None:
    """Coded fields typed in another case or as a synonym (``male``, ``M``)."""
    if mess.coded_variants <= 0:
        return
    syn = {str(k): [str(x) for x in v] for k, v in voc["synonyms"].items()}
    for f in form.fields:
        if f.kind != "coded":
            continue
        rng = streams(f"mess_coded:{form_key}:{f.name}")
        vals = df[f.name].to_numpy(dtype=object)
        u = rng.random(len(df))
        pick_u = rng.random(len(df))
        sel = (u < mess.coded_variants) & pd.notna(vals)
        if not sel.any():
            continue
        new = vals.copy()
        codes, uniques = pd.factorize(vals)
        for ui in np.unique(codes[sel]):                     # loop over distinct values
            opts = _variants(str(uniques[ui]), syn)
            if not opts:
                continue
            m = sel & (codes == ui)
            new[m] = take(opts, np.floor(pick_u[m] * len(opts)).astype(np.int64))
        changed = sel & (new != vals)
        log.add(form_key, df, changed, f.name, "coded_variant", vals, new)
        df[f.name] = _obj(new, df)


def _typo(word: str, r: np.random.Generator) -> str:
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    for _ in range(10):
        if len(letters) < 3:
            return word + word[-1:]
        i = letters[int(r.integers(1, len(letters) - 1))]
        op = int(r.integers(3))
        if op == 0 and i + 1 < len(word):
            cand = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif op == 1:
            cand = word[:i] + word[i + 1:]
        else:
            cand = word[:i] + word[i] + word[i:]
        if cand != word:
            return cand
    return word + word[-1]


def ae_typos(df: pd.DataFrame, mess, voc: dict, streams: Streams, log: MessLog) -> None:
    """A typing error in the verbatim AE term (swapped, dropped or doubled letter) that does not
    happen to spell another usual wording ("Diarrhoea" -> "Diarrhea" is not a typo)."""
    if mess.ae_typos <= 0 or not len(df):
        return
    known = {v.lower() for t in voc["ae_terms"].values() for v in t["verbatims"]}
    rng = streams("mess_typos")
    vals = df["AETERM"].to_numpy(dtype=object)
    u = rng.random(len(df))
    pick_u = rng.random(len(df))
    sel = (u < mess.ae_typos) & pd.notna(vals)
    new = vals.copy()
    codes, uniques = pd.factorize(vals)
    for ui in sorted(np.unique(codes[sel]), key=lambda i: str(uniques[i])):   # distinct terms
        v = str(uniques[ui])
        opts = sorted(t for t in {_typo(v, rng) for _ in range(6)} if t.lower() not in known) \
            or [v + v[-1]]
        m = sel & (codes == ui)
        new[m] = take(opts, np.floor(pick_u[m] * len(opts)).astype(np.int64))
    log.add("ae", df, sel, "AETERM", "typo", vals, new)
    df["AETERM"] = _obj(new, df)


def non_ascii(df: pd.DataFrame, form_key: str, form, mess, voc: dict, streams: Streams,
              log: MessLog) -> None:
    """Free text with accents, typographic quotes, en dash or micro sign (all of which the XPT
    writer can transliterate)."""
    if mess.non_ascii <= 0:
        return
    words = voc["non_ascii_words"]
    for f in form.fields:
        if f.kind != "free":
            continue
        rng = streams(f"mess_non_ascii:{form_key}:{f.name}")
        vals = df[f.name].to_numpy(dtype=object)
        sel = (rng.random(len(df)) < mess.non_ascii) & pd.notna(vals)
        if not sel.any():
            continue
        s = pd.Series(vals[sel], dtype=object).astype(str)
        t = s.copy()
        for a, b in words.items():                          # loop over the word table
            t = t.str.replace(a, b, regex=False)
        same = (t == s).to_numpy().copy()
        apo = same & s.str.contains("'", regex=False).to_numpy()
        t[apo] = t[apo].str.replace("'", "’", regex=False)
        same &= ~apo
        dash = same & s.str.contains(" - ", regex=False).to_numpy()
        t[dash] = t[dash].str.replace(" - ", " – ", regex=False)
        same &= ~dash
        hyph = same & s.str.contains("-", regex=False).to_numpy()
        t[hyph] = t[hyph].str.replace("-", "–", regex=False)
        same &= ~hyph
        t[same] = "“" + t[same] + "”"
        new = vals.copy()
        new[sel] = t.to_numpy(dtype=object)
        log.add(form_key, df, sel, f.name, "non_ascii", vals, new)
        df[f.name] = _obj(new, df)


def cjk_text(df: pd.DataFrame, form_key: str, form, mess, voc: dict, streams: Streams,
             log: MessLog) -> None:
    """Free text in Chinese (off by default)."""
    if mess.cjk_text <= 0:
        return
    cj = voc["cjk"]
    for f in form.fields:
        if f.kind != "free":
            continue
        rng = streams(f"mess_cjk:{form_key}:{f.name}")
        vals = df[f.name].to_numpy(dtype=object)
        sel = (rng.random(len(df)) < mess.cjk_text) & pd.notna(vals)
        if not sel.any():
            continue
        new = vals.copy()
        txt = take(cj["text"], rng.integers(len(cj["text"]), size=len(df)))
        if f.name == "AETERM":
            pt = df["AETERM_PT"].to_numpy(dtype=object)
            mapped = pd.Series(pt).map(cj["ae"]).to_numpy(dtype=object)
            txt = np.where(pd.notna(mapped), mapped, txt)
        new[sel] = txt[sel]
        log.add(form_key, df, sel, f.name, "cjk_text", vals, new)
        df[f.name] = _obj(new, df)


def duplicates(df: pd.DataFrame, form_key: str, mess, streams: Streams, log: MessLog) -> pd.DataFrame:
    """Log lines entered twice: identical but for their own next RecordPosition."""
    if mess.duplicates <= 0 or not len(df):
        return df
    rng = streams(f"mess_duplicates:{form_key}")
    sel = rng.random(len(df)) < mess.duplicates
    if not sel.any():
        return df
    dup = df[sel].copy()
    top = df.groupby("_subj")["RecordPosition"].max()
    base = top.reindex(dup["_subj"]).to_numpy()
    dup["RecordPosition"] = base + dup.groupby("_subj").cumcount().to_numpy() + 1
    # a duplicate sits right after its original
    dup["_date"] = dup["_date"].to_numpy()
    log.add(form_key, dup, np.ones(len(dup), dtype=bool), "*", "duplicate",
            df.loc[sel, "RecordPosition"].astype(str).to_numpy(), dup["RecordPosition"].astype(str).to_numpy())
    return pd.concat([df, dup], ignore_index=True)
