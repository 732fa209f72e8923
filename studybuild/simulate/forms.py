"""The CRF forms: what each file holds (the registry behind ``out/README.md`` and
``docs/raw-forms.md``) and how a form's rows are built from the simulated course."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from studybuild.simulate import recist as R
from studybuild.simulate._util import dec1_text, int_text, take
from studybuild.simulate.course import REASONS, R_ONGOING
from studybuild.simulate.tumour import MAXL, MAXNT, STATUS_TEXT

ID_COLUMNS = ("Project", "SiteNumber", "Subject", "FolderName", "InstanceName", "DataPageName",
              "RecordPosition")

# folder ranks for sorting: Screening, visit folders by date, EOT, safety FU, survival FU,
# End of Study, Logs
RANK_SCREENING, RANK_VISIT, RANK_EOT, RANK_SFU, RANK_SURV, RANK_EOS, RANK_LOGS = range(7)


@dataclass(frozen=True)
class Field:
    name: str
    meaning: str
    kind: str = "text"          # text | coded | free | date | pdate (partial allowed) | number


@dataclass(frozen=True)
class Form:
    file: str
    page: str
    folders: str
    row: str
    fields: tuple[Field, ...]
    log: bool = False           # RecordPosition 1..n per subject (duplicated lines possible)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]


def F(name, meaning, kind="text"):
    return Field(name, meaning, kind)


YN = "coded"
LESION = (F("TULOC", "organ / location", "coded"), F("TULAT", "laterality", "coded"),
          F("TULOCDTL", "location detail", "free"), F("TRMETHOD", "imaging method", "coded"),
          F("TRDAT", "scan date", "date"))


def registry(drugs: dict, combo_codes: list[str]) -> dict[str, Form]:
    """Forms of a study: ``drugs`` maps treatment name -> simulation Drug."""
    forms = {
        "enrol": Form("enrol.csv", "Enrolment and Informed Consent", "Screening", "one subject", (
            F("RFICDAT", "date informed consent signed", "date"),
            F("ICVER", "consent form version signed"),
            F("ELIGYN", "all eligibility criteria met", YN),
            F("ENRLDAT", "enrolment date", "date"))),
        "dm": Form("dm.csv", "Demographics", "Screening", "one subject", (
            F("BRTHDAT", "date of birth (partial allowed)", "pdate"),
            F("AGE", "age in completed years at informed consent", "number"),
            F("AGEU", "age unit"),
            F("SEX", "sex", "coded"), F("RACE", "race", "coded"), F("ETHNIC", "ethnicity", "coded"),
            F("COUNTRY", "country of the site", "coded"))),
        "ecog": Form("ecog.csv", "ECOG Performance Status", "Screening, End of Treatment",
                     "one assessment", (F("ECOGDAT", "assessment date", "date"),
                                        F("ECOG", "ECOG performance status grade (0-4)"))),
        "cancer_hx": Form("cancer_hx.csv", "Cancer History", "Screening", "one subject", (
            F("MHTERM", "primary diagnosis as written by the site", "free"),
            F("HISTTYPE", "histological subtype", "coded"),
            F("PRIMSITE", "primary tumour site", "coded"),
            F("MHSTDAT", "date of initial diagnosis (partial allowed)", "pdate"),
            F("ADVDAT", "date advanced disease was diagnosed (partial allowed)", "pdate"),
            F("DISSTAT", "disease status at study entry", "coded"),
            F("FNCLCC", "FNCLCC histological grade", "coded"),
            F("PRSYSN", "number of prior systemic lines for advanced disease", "number"),
            F("PRANTHYN", "any prior anthracycline-containing therapy", YN),
            F("PRAAGYN", "any prior antiangiogenic therapy", YN))),
        "prior_tx": Form("prior_tx.csv", "Prior Systemic Anticancer Therapy", "Screening",
                         "one prior regimen", (
            F("PTLINE", "line of therapy for advanced disease", "number"),
            F("CMTRT", "regimen as written by the site", "free"),
            F("PTTYPE", "therapy type", "coded"),
            F("PTANTH", "regimen contains an anthracycline", YN),
            F("PTAAG", "regimen is antiangiogenic", YN),
            F("CMSTDAT", "start date (partial allowed)", "pdate"),
            F("CMENDAT", "end date (partial allowed)", "pdate"),
            F("PTBOR", "best response to the regimen", "coded"),
            F("PTRSN", "reason stopped", "coded")), log=True),
        "mh": Form("mh.csv", "Medical History", "Screening", "one condition other than the sarcoma", (
            F("MHTERM", "condition", "free"),
            F("MHSTDAT", "start date (partial allowed)", "pdate"),
            F("MHONGO", "ongoing at screening", YN),
            F("MHENDAT", "end date (partial allowed; blank when ongoing)", "pdate"),
            F("MHTOXGR", "CTCAE grade at screening when ongoing")), log=True),
        "sv": Form("sv.csv", "Visit Date", "every visit folder except Survival Follow-up",
                   "one performed visit (folder instance)", (F("VISDAT", "visit date", "date"),)),
    }
    for name, d in drugs.items():
        key = f"ex_{name.lower()}"
        if d.log == "daily":
            forms[key] = Form(f"{key}.csv", f"{d.display} Administration", "Logs",
                              "one period at a constant dose (within one cycle)", (
                F("EXTRT", "study drug"),
                F("EXCYCLE", "treatment cycle of the period", "number"),
                F("EXSTDAT", "first day of the period", "date"),
                F("EXENDAT", "last day of the period (blank when ongoing at cut-off)", "date"),
                F("EXONGO", "period ongoing at the data cut-off", YN),
                F("EXDOSE", "daily dose", "number"),
                F("EXDOSU", "dose unit", "coded"), F("EXDOSFRM", "dose form", "coded"),
                F("EXROUTE", "route", "coded"), F("EXDOSFRQ", "frequency", "coded"),
                F("EXADJ", "reason the line differs from the previous one (blank: no change)", "coded"),
                F("EXAENO", "AESPID of the adverse event behind EXADJ", "number")), log=True)
        else:
            forms[key] = Form(f"{key}.csv", f"{d.display} Administration", "Cycle n Day 1",
                              f"one planned administration (cycles 1-{d.cycles})", (
                F("EXTRT", "study drug"),
                F("EXCYCLE", "cycle", "number"),
                F("EXYN", "was the dose given", YN),
                F("EXSTDAT", "administration date (blank when not given)", "date"),
                F("EXDOSE", "dose given", "number"),
                F("EXDOSU", "dose unit", "coded"), F("EXDOSFRM", "dose form", "coded"),
                F("EXROUTE", "route", "coded"), F("EXLOC", "injection site", "coded"),
                F("EXDOSFRQ", "frequency", "coded"),
                F("EXREASND", "reason not given", "coded"),
                F("EXAENO", "AESPID of the adverse event behind a dose not given", "number")))
    forms.update({
        "tu_target": Form("tu_target.csv", "Target Lesions (RECIST 1.1)",
                          "Screening, Week n Tumor Assessment, Unscheduled",
                          "one target lesion at one assessment", (
            F("TRLNKID", "target lesion id (T01-T05)"), *LESION,
            F("TRLDIAM", "longest diameter (non-nodal lesions)", "number"),
            F("TRSAXIS", "short axis (lymph nodes)", "number"),
            F("TRORRESU", "unit of the diameters (mm or cm)", "coded"),
            F("TRSTAT", "Not evaluable when the lesion could not be measured", "coded"))),
        "tu_nontarget": Form("tu_nontarget.csv", "Non-target Lesions (RECIST 1.1)",
                             "Screening, Week n Tumor Assessment, Unscheduled",
                             "one non-target lesion at one assessment", (
            F("NTLNKID", "non-target lesion id"), *LESION,
            F("NTSTAT", "lesion status", "coded"))),
        "tu_new": Form("tu_new.csv", "New Lesions (RECIST 1.1)", "Week n Tumor Assessment, Unscheduled",
                       "one new lesion at the assessment that found it", (
            F("NLLNKID", "new lesion id (per subject, in order found)"), *LESION)),
        "rs": Form("rs.csv", "Overall Response (RECIST 1.1)", "Week n Tumor Assessment, Unscheduled",
                   "one post-baseline assessment", (
            F("RSDAT", "date of the assessment", "date"),
            F("TRSUM", "sum of target lesion diameters (blank when a lesion was not evaluable)", "number"),
            F("TRSUMU", "unit of TRSUM", "coded"),
            F("RSTRGRES", "target lesion response", "coded"),
            F("RSNTRGRS", "non-target response", "coded"),
            F("RSNEWLES", "new lesion(s) found", YN),
            F("RSOVRLRS", "investigator's overall response", "coded"),
            F("RSCOMM", "investigator comment", "free"))),
    })
    ae_fields = [
        F("AESPID", "AE number on the CRF", "number"),
        F("AETERM", "verbatim term", "free"),
        F("AETERM_PT", "CTCAE v5.0 term the site picked (a MedDRA LLT)"),
        F("AETERM_SOC", "system organ class"),
        F("AETERM_LLT", "coder: MedDRA lowest level term"),
        F("AETERM_LLT_CODE", "coder: LLT code"),
        F("AETERM_PTNAME", "coder: MedDRA preferred term"),
        F("AETERM_PT_CODE", "coder: PT code"),
        F("AETERM_SOC_CODE", "coder: primary SOC code"),
        F("AETERM_DICT_VER", "coder: dictionary and version"),
        F("AESTDAT", "start date (partial allowed)", "pdate"),
        F("AEENDAT", "end date (partial allowed; blank when ongoing)", "pdate"),
        F("AEONGO", "ongoing at the data cut-off or at death", YN),
        F("AETOXGR", "CTCAE v5.0 grade", "coded"),
        F("AESER", "serious", YN),
        F("AESDTH", "serious: results in death", YN), F("AESLIFE", "serious: life-threatening", YN),
        F("AESHOSP", "serious: hospitalisation", YN), F("AESDISAB", "serious: disability", YN),
        F("AESCONG", "serious: congenital anomaly", YN),
        F("AESMIE", "serious: other medically important", YN)]
    for name, d in drugs.items():
        ae_fields.append(F(f"AEREL_{d.code}", f"relationship to {d.display.lower()}", "coded"))
        ae_fields.append(F(f"AEACN_{d.code}", f"action taken with {d.display.lower()}", "coded"))
    if combo_codes:
        ae_fields.append(F("AEIRAE", "immune-related AE per investigator", YN))
    ae_fields.append(F("AEOUT", "outcome", "coded"))
    forms.update({
        "ae": Form("ae.csv", "Adverse Events", "Logs",
                   "one adverse event (a new record when the grade worsens)", tuple(ae_fields), log=True),
        "subsq_tx": Form("subsq_tx.csv", "Subsequent Anticancer Therapy", "Logs",
                         "one therapy after study treatment", (
            F("CMTRT", "therapy as written by the site", "free"),
            F("CMTYPE", "type", "coded"),
            F("CMSTDAT", "start date (partial allowed)", "pdate"),
            F("CMENDAT", "end date (partial allowed; blank when ongoing)", "pdate"),
            F("CMONGO", "ongoing at last contact", YN)), log=True),
        "eot": Form("eot.csv", "End of Treatment", "End of Treatment", "one study drug that has stopped", (
            F("EOTTRT", "the drug this row is about", "coded"),
            F("DSSTDAT", "date the drug was stopped: its last dose, or the death date when the reason is Death", "date"),
            F("DSDECOD", "primary reason the drug stopped", "coded"),
            F("DSTERM", "specification / detail", "free"))),
        "eos": Form("eos.csv", "End of Study", "End of Study", "one subject who has left the study", (
            F("DSSTDAT", "date the subject left the study", "date"),
            F("DSDECOD", "reason", "coded"),
            F("DSTERM", "detail", "free"))),
        "death": Form("death.csv", "Death Report", "End of Study", "one subject who died", (
            F("DTHDAT", "date of death (partial allowed)", "pdate"),
            F("DTHCAUS", "primary cause", "coded"),
            F("DTHCAUSP", "specification", "free"))),
        "survfu": Form("survfu.csv", "Survival Follow-up", "Survival Follow-up", "one follow-up contact", (
            F("FUDAT", "date of the contact", "date"),
            F("FUMETHOD", "how the contact was made", "coded"),
            F("FUSTAT", "survival status", "coded"),
            F("LKADAT", "date last known alive (blank for Dead)", "date"))),
    })
    return forms


def folder_name(visit: str) -> str:
    """CRF folder name of a study.yaml visit: ``SAFETY FOLLOW-UP`` -> ``Safety Follow-up``."""
    small = {"of", "and", "the", "to"}
    words = []
    for i, w in enumerate(visit.split(" ")):
        lw = w.lower()
        words.append(lw if (i and lw in small) else lw[:1].upper() + lw[1:])
    return " ".join(words)


def frame(subj, rank, date, folder, instance, recpos, vnum=None, **fields) -> pd.DataFrame:
    """A form's rows: private sort keys (``_subj``, ``_rank``, ``_date``, ``_vnum``), the EDC
    folder identifiers and the fields (scalars are repeated)."""
    n = len(subj)

    def col(v, dtype=None):
        if np.ndim(v) == 0:
            out = np.empty(n, dtype=object if dtype is None else dtype)
            out[:] = v
        else:
            out = np.asarray(v) if dtype is None else np.asarray(v, dtype=dtype)
        # text stays an object column: pandas would otherwise convert it to Arrow strings and
        # back at every step of the mess and sorting
        return pd.Series(out, dtype=object) if out.dtype.kind in "OUS" else out

    df = pd.DataFrame({"_subj": col(subj, np.int64), "_rank": col(rank, np.int64),
                       "_date": col(date, float), "_vnum": col(0.0 if vnum is None else vnum, float),
                       "FolderName": col(folder), "InstanceName": col(instance),
                       "RecordPosition": col(recpos, np.int64)})
    for k, v in fields.items():
        df[k] = col(v)
    return df


def yes_no(b) -> np.ndarray:
    return np.where(np.asarray(b, dtype=bool), "Yes", "No").astype(object)


def diam_text(mm: np.ndarray, cm: np.ndarray) -> np.ndarray:
    """Diameters as the CRF shows them: integer mm, or cm with one decimal."""
    mm = np.asarray(mm, dtype=float)
    return np.where(np.asarray(cm, dtype=bool), dec1_text(mm / 10.0), int_text(mm))
