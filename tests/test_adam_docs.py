"""The examples in docs/adam.md and in the adam modules' docstrings run and give the output
shown (the docs stay true to the code)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["adam.dates", "adam.derive", "adam.response", "adam.tte", "adam.options",
           "adam.adsl", "adam.adrs", "adam.adtte", "adam.adae", "adam.recist", "adam.build"]
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def test_docs_adam_md_examples():
    res = doctest.testfile(str(ROOT / "docs" / "adam.md"), module_relative=False,
                           optionflags=FLAGS)
    assert res.failed == 0 and res.attempted > 30


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=FLAGS)
    assert res.failed == 0
