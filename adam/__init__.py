"""ADaM: an admiral-style derivation library and the ADSL, ADRS, ADTTE, ADTR and ADAE
builders (docs/adam.md), with the censoring rule sets of docs/censoring.md and the measured
agreement with admiral/admiralonco in docs/adam-vs-admiral.md.

The names below are imported on first use, so ``import adam.adrs`` stays light.

>>> from adam import build_adam                      # doctest: +SKIP
>>> result = build_adam(sdtm_frames, study="surufatinib-sts")   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AdamResult": "adam.build", "build_adam": "adam.build", "build_adam_cli": "adam.build",
    "DateImputation": "adam.dates", "convert_dtc_to_dt": "adam.dates",
    "convert_dtc_to_dtm": "adam.dates", "derive_vars_dt": "adam.dates",
    "derive_vars_dtm": "adam.dates", "derive_vars_dtm_to_dt": "adam.dates",
    "AdamOptions": "adam.options",
    "ConfirmationRule": "adam.response", "ResponseRules": "adam.response",
    "confirmed_mask": "adam.response", "recist_events": "adam.response",
    "CensoringRules": "adam.tte", "apply_censoring_rules": "adam.tte",
    "censor_source": "adam.tte", "derive_param_tte": "adam.tte", "event_source": "adam.tte",
}
for _name in ("DateSource", "Event", "Group", "Grouping", "aval_resp", "compute_duration",
              "compute_dy", "derive_extreme_event", "derive_extreme_records",
              "derive_param_exist_flag", "derive_var_base", "derive_var_chg",
              "derive_var_extreme_dt", "derive_var_extreme_flag",
              "derive_var_merged_exist_flag", "derive_var_nadir", "derive_var_obs_number",
              "derive_var_pchg", "derive_var_relative_flag", "derive_var_trtemfl",
              "derive_vars_cat", "derive_vars_duration", "derive_vars_dy", "derive_vars_merged",
              "yn_to_numeric"):
    _WHERE[_name] = "adam.derive"

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'adam' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
