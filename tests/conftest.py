"""Suite-wide test settings.

Property tests (hypothesis) run a fixed, repeatable set of examples by default, so CI on a
clean clone gives the same result every time; set ``HYPOTHESIS_PROFILE=explore`` to search
with fresh random examples while developing (a failure found that way becomes a unit test)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
