"""Suite-wide test settings.

Property tests (hypothesis) run a fixed, repeatable set of examples by default, so CI on a
clean clone gives the same result every time; set ``HYPOTHESIS_PROFILE=explore`` to search
with fresh random examples while developing (a failure found that way becomes a unit test)."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


SEED_STUDIES = ["surufatinib-sts", "surufatinib-envafolimab-sts"]


@pytest.fixture(scope="session", params=SEED_STUDIES)
def seed_build(request, tmp_path_factory):
    """Each seed study simulated (seed 20240501, default size), mapped to SDTM and derived to
    ADaM once per session, for the tests that read those results (never modify them):
    ``(study, raw folder, SDTM result, ADaM result, truth by USUBJID, STUDYID)``."""
    import pandas as pd

    from adam.build import build_adam
    from sdtm.build import build_sdtm
    from studybuild.simulate import simulate_study

    study = request.param
    raw = tmp_path_factory.mktemp(study) / "raw"
    simulate_study(study, raw, subjects=None, seed=20240501)
    sdtm = build_sdtm(study, raw)
    res = build_adam(sdtm.datasets, study=study)
    truth = pd.read_csv(raw / "_truth" / "subjects.csv", dtype=str)
    studyid = res.datasets["ADSL"]["STUDYID"].iloc[0]
    truth.index = studyid + "-" + truth["Subject"]
    return study, raw, sdtm, res, truth, studyid
