"""docs/rules.md is generated from the rule registry: it must be current."""

from validation.docs import DOC, render


def test_rules_doc_is_generated_from_the_registry():
    assert DOC.read_text(encoding="utf-8") == render(), \
        "docs/rules.md is out of date: run .venv/bin/python -m validation.docs"
