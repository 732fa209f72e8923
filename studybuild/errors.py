"""Errors that end a command with a one-line message instead of a traceback.

Exit codes (the CLI contract): 0 success; 1 the data has error-level findings (or the gate
stopped the export); 2 usage error or unreadable input (bad spec, missing file, corrupt XPT);
3 an internal error, i.e. a bug in studybuild (please report it with ``--debug`` output).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class StudybuildError(Exception):
    """Base class: ``str(err)`` is the one-line message shown to the user."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(StudybuildError):
    """Wrong arguments: unknown study id, missing folder, incompatible options."""


class InputError(StudybuildError):
    """Input that cannot be read: names the file and, where known, line/row and column."""

    def __init__(self, message: str, *, path=None, line: int | None = None,
                 column: str | None = None, hint: str | None = None):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            if column:
                where += f" column {column}"
            where += ": "
        super().__init__(where + message, hint=hint)
        self.path = path
        self.line = line
        self.column = column


class SpecError(InputError):
    """A study spec that does not validate: file, line, what is wrong and how to fix it."""


class ExportError(StudybuildError):
    """Data that cannot be written in the requested format (e.g. XPT v5 limits)."""

    def __init__(self, message: str, *, dataset: str | None = None,
                 variable: str | None = None, row: int | None = None,
                 hint: str | None = None):
        parts = [p for p in (dataset and f"dataset {dataset}",
                             variable and f"variable {variable}",
                             row is not None and f"row {row}") if p]
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message, hint=hint)
        self.dataset = dataset
        self.variable = variable
        self.row = row


class GateError(StudybuildError):
    """Conformance checks found errors, so the export was refused."""

    exit_code = EXIT_FINDINGS


class NotImplementedYet(UsageError):
    """A command of the CLI contract whose implementation has not landed."""
