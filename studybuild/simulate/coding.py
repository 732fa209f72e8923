"""The coding tool's MedDRA columns of the simulated AE export.

A coded EDC export carries, beside each verbatim term, what the coder chose: the MedDRA lowest
level term (here the CTCAE v5.0 term the site picked, which NCI publishes as a MedDRA LLT), its
preferred term, its primary SOC and the MedDRA version. The LLT codes and SOCs are the reference
list ``specs/dictionaries/ctcae-5.0.csv``; the PT of an LLT that is not itself a PT is the
simulated coder's choice in ``vocabulary.yaml`` (``meddra_pt``). A lookup, not a draw: the same
seed gives the same data, and no random stream moves.

>>> table = coding_table()
>>> table.loc["Diarrhea", ["LLT_CODE", "PT", "PT_CODE", "SOC_CODE"]].tolist()
['10012727', 'Diarrhoea', '10012735', '10017947']
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from studybuild.paths import specs_dir
from studybuild.simulate.config import vocabulary

COLUMNS = ("AETERM_LLT", "AETERM_LLT_CODE", "AETERM_PTNAME", "AETERM_PT_CODE",
           "AETERM_SOC_CODE", "AETERM_DICT_VER")


@cache
def coding_table() -> pd.DataFrame:
    """One row per CTCAE term of ``vocabulary.yaml``: LLT, LLT_CODE, PT, PT_CODE, SOC,
    SOC_CODE (text). A vocabulary term missing from the reference list is a bug."""
    ref = pd.read_csv(specs_dir() / "dictionaries" / "ctcae-5.0.csv", dtype="str",
                      keep_default_na=False).set_index("TERM")
    voc = vocabulary()
    terms = list(voc["ae_terms"])
    missing = [t for t in terms if t not in ref.index]
    if missing:
        raise RuntimeError(f"vocabulary.yaml AE terms {missing} are not in "
                           "specs/dictionaries/ctcae-5.0.csv")
    ref = ref.loc[terms]
    pts = voc.get("meddra_pt", {})
    pt = pd.Series({t: pts.get(t, (t, None))[0] for t in terms})
    pt_code = pd.Series({t: pts.get(t, (t, None))[1] for t in terms}).fillna(ref["LLT_CODE"])
    return pd.DataFrame({"LLT": terms, "LLT_CODE": ref["LLT_CODE"].to_numpy(),
                         "PT": pt.to_numpy(), "PT_CODE": pt_code.to_numpy(),
                         "SOC": ref["SOC_NAME"].to_numpy(),
                         "SOC_CODE": ref["SOC_CODE"].to_numpy()}, index=terms)


def code_terms(terms: np.ndarray) -> dict[str, np.ndarray]:
    """The coding columns (``COLUMNS``) for an array of CTCAE terms, vectorised."""
    table = coding_table()
    pos = pd.Index(table.index).get_indexer(pd.Index(terms, dtype="object"))
    if (pos < 0).any():
        bad = sorted(set(np.asarray(terms, dtype=object)[pos < 0].tolist()))
        raise RuntimeError(f"AE terms {bad} have no MedDRA coding")
    n = len(terms)

    def col(name: str) -> np.ndarray:
        return table[name].to_numpy(dtype=object)[pos] if n else np.zeros(0, dtype=object)

    return {"AETERM_LLT": col("LLT"), "AETERM_LLT_CODE": col("LLT_CODE"),
            "AETERM_PTNAME": col("PT"), "AETERM_PT_CODE": col("PT_CODE"),
            "AETERM_SOC_CODE": col("SOC_CODE"),
            "AETERM_DICT_VER": np.full(n, f"MedDRA {vocabulary()['meddra_version']}",
                                       dtype=object)}
