"""The ``studybuild`` command line.

Exit codes: 0 success; 1 the data has error-level findings (or the export gate stopped);
2 usage error or unreadable input; 3 internal error (a bug: rerun with --debug and report it).
Errors are one line on stderr, never a traceback (unless --debug).
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path
from typing import Any, Callable

import click

from studybuild import __version__
from studybuild.errors import (EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, NotImplementedYet,
                               StudybuildError, UsageError)
from studybuild.paths import study_ids

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _impl(module: str, attr: str, command: str, issue: int) -> Callable[..., Any]:
    """Import the function behind a command; a module that has not landed yet makes the
    command say so (exit 2) instead of failing with an ImportError."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            raise NotImplementedYet(f"`studybuild {command}` is not implemented yet "
                                    f"(issue #{issue})") from None
        raise
    fn = getattr(mod, attr, None)
    if fn is None:
        raise NotImplementedYet(f"`studybuild {command}` is not implemented yet (issue #{issue})")
    return fn


def _err(message: str) -> None:
    click.echo(f"studybuild: error: {message}", err=True)


def handle_errors(fn: Callable[..., int | None]) -> Callable[..., None]:
    """Run a command body; turn StudybuildError into its exit code and one line on stderr,
    anything else into exit 3 with a one-line message (the traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        debug = bool(click.get_current_context().find_root().params.get("debug"))
        try:
            code = fn(*args, **kwargs)
        except StudybuildError as e:
            if debug:
                raise
            _err(str(e))
            sys.exit(e.exit_code)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except MemoryError:
            _err("out of memory")
            sys.exit(EXIT_INTERNAL)
        except Exception as e:  # a bug: keep the promise of no traceback, but say so
            if debug:
                raise
            _err(f"internal error: {type(e).__name__}: {e} "
                 "(this is a bug in studybuild; rerun with --debug and report it)")
            sys.exit(EXIT_INTERNAL)
        sys.exit(code or EXIT_OK)

    return wrapper


def _check_study(study: str | None) -> None:
    if study is None:
        return
    known = study_ids()
    if study not in known:
        raise UsageError(f"unknown study {study!r}; known studies: {', '.join(known) or 'none'} "
                         "(each is a folder in specs/studies/)")


def _exit_for(result: Any) -> int:
    """Exit code for a command result: anything with error-level findings exits 1."""
    findings = getattr(result, "findings", result)
    has_errors = getattr(findings, "has_errors", False)
    return EXIT_FINDINGS if has_errors else EXIT_OK


study_option = click.option("--study", "study", metavar="ID", required=True,
                            help="Study id: a folder in specs/studies/ (e.g. surufatinib-sts).")


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="studybuild")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Raw trial data to a regulator-ready CDISC package.

    \b
    Steps (each usable alone):  simulate -> sdtm -> validate -> adam -> validate -> export
    One command runs them all:  build (one study), demo (every study, simulated data)
    e.g. simulate --out raw; sdtm --raw raw --out sdtm; adam --sdtm sdtm --out adam;
         export --sdtm sdtm --adam adam --out pkg   (each with --study ID)

    \b
    Exit codes: 0 success, 1 error-level findings (export refused),
                2 usage error or unreadable input, 3 internal error (a bug).
    """


@cli.command(context_settings=CONTEXT, short_help="Simulate a study's raw EDC export (CSV forms).")
@study_option
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the raw CSV forms into (replaced atomically).")
@click.option("--subjects", type=click.IntRange(min=1), default=None,
              help="Number of subjects (default: the study's planned size).")
@click.option("--seed", type=int, default=20240501, show_default=True,
              help="Random seed; the same seed and arguments give byte-identical files.")
@handle_errors
def simulate(study: str, out: Path, subjects: int | None, seed: int) -> int:
    """Simulate a study's raw EDC export: one CSV per CRF form, a README, and _truth/."""
    _check_study(study)
    fn = _impl("studybuild.simulate", "simulate_study", "simulate", 3)
    result = fn(study, out, subjects=subjects, seed=seed)
    click.echo(str(result))
    return EXIT_OK


@cli.command(context_settings=CONTEXT, short_help="Map raw forms to SDTM with the study spec.")
@study_option
@click.option("--raw", type=click.Path(path_type=Path), required=True,
              help="Folder of raw CSV forms (e.g. from `studybuild simulate`).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write SDTM datasets, lineage and accounting into.")
@handle_errors
def sdtm(study: str, raw: Path, out: Path) -> int:
    """Map raw forms to SDTM with the study spec (specs/studies/ID/)."""
    _check_study(study)
    fn = _impl("sdtm.build", "build_sdtm_cli", "sdtm", 4)
    return fn(study, raw, out)


@cli.command(context_settings=CONTEXT, short_help="Derive ADaM from any SDTM folder.")
@click.option("--sdtm", "sdtm_dir", type=click.Path(path_type=Path), required=True,
              help="Folder of SDTM datasets (XPT, CSV, parquet or Dataset-JSON).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write ADaM datasets into.")
@click.option("--study", "study", metavar="ID", default=None,
              help="Study whose ADaM choices (specs/studies/ID/adam/) to use; default: "
                   "the admiral-compatible defaults.")
@handle_errors
def adam(sdtm_dir: Path, out: Path, study: str | None) -> int:
    """Derive ADaM (ADSL, ADRS, ADTTE, ADTR, ADAE) from any SDTM folder."""
    _check_study(study)
    fn = _impl("adam.build", "build_adam_cli", "adam", 6)
    return fn(sdtm_dir, out, study=study)


@cli.command(context_settings=CONTEXT, short_help="Check a folder of SDTM or ADaM datasets.")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write report.json, report.html and junit.xml here.")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Findings baseline (YAML/JSON) marking accepted findings with a reason.")
@click.option("--define", "define_xml", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="define.xml to take dataset and codelist metadata from "
                                 "(default: the folder's own define.xml, if any).")
@click.option("--study", "study", metavar="ID", default=None,
              help="Study whose spec gives the metadata (as the build has it) and whose "
                   "study.yaml the SB03xx rules check against.")
@click.option("--encoding", metavar="NAME", default=None,
              help="Text encoding of the XPT files (e.g. Windows-1252); default: what the "
                   "define.xml declares, else UTF-8, else Windows-1252, else Latin-1.")
@handle_errors
def validate(path: Path, report_dir: Path | None, baseline: Path | None,
             define_xml: Path | None, study: str | None, encoding: str | None) -> int:
    """Check a folder of SDTM or ADaM datasets (XPT, CSV, parquet, Dataset-JSON).

    Metadata comes from --define, else --study's spec, else the folder's own define.xml,
    else the implementation guides. In a package `studybuild build` wrote, the build's own
    findings (traceability/) are reported too, so the package validates to what the build
    reported.
    """
    _check_study(study)
    fn = _impl("validation.run", "validate_cli", "validate", 5)
    if study is None:
        return fn(path, report_dir=report_dir, baseline=baseline, define_xml=define_xml,
                  encoding=encoding)
    from studybuild.study import load_study

    return fn(path, report_dir=report_dir, baseline=baseline, define_xml=define_xml,
              study=load_study(study), metadata_for=functools.partial(_study_metadata, study),
              encoding=encoding)


def _study_metadata(study: str, frames: dict[str, Any]) -> Any:
    """The metadata the build gives these datasets: the SDTM spec's (sdtm.build.sdtm_metadata)
    for SDTM domains, the ADaM builder's (adam.build.describe_adam) for AD* datasets; one
    StudyMetadata for a folder holding both."""
    import dataclasses

    sdtm = {k: v for k, v in frames.items() if not k.upper().startswith("AD")}
    adam = {k: v for k, v in frames.items() if k.upper().startswith("AD")}
    metas = []
    if sdtm:
        from sdtm.build import sdtm_metadata
        from sdtm.spec import load_spec

        metas.append(sdtm_metadata(load_spec(study), sdtm))
    if adam:
        from adam.build import describe_adam

        metas.append(describe_adam(adam, sdtm, study=study,
                                   labels={k: dict(v.attrs.get("labels") or {})
                                           for k, v in adam.items()}))
    if len(metas) == 1:
        return metas[0]
    first, second = metas
    return dataclasses.replace(
        first, datasets={**first.datasets, **second.datasets},
        value_level=tuple(first.value_level) + tuple(second.value_level),
        codelists={**second.codelists, **first.codelists})


@cli.command(context_settings=CONTEXT,
             short_help="Check SDTM + ADaM folders and write the package (XPT, define.xml).")
@study_option
@click.option("--sdtm", "sdtm_dir", type=click.Path(path_type=Path), required=True,
              help="SDTM folder, as `studybuild sdtm --out` writes it (XPT; CSV, parquet or "
                   "Dataset-JSON also read); its traceability/ gives lineage and accounting.")
@click.option("--adam", "adam_dir", type=click.Path(path_type=Path), required=True,
              help="ADaM folder, as `studybuild adam --out` writes it.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output root; the study's eCTD-style folder is OUT/ID/.")
@click.option("--format", "formats", default="xpt,json", show_default=True,
              help="Dataset formats to export: any of xpt, json, ndjson.")
@click.option("--transliterate", is_flag=True,
              help="Spell non-ASCII text in ASCII for XPT (documented table) instead of "
                   "refusing it.")
@click.option("--allow-errors", is_flag=True,
              help="Export even if checks find errors (recorded in report and manifest).")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Findings baseline (YAML/JSON) marking accepted findings with a reason.")
@handle_errors
def export(study: str, sdtm_dir: Path, adam_dir: Path, out: Path, formats: str,
           transliterate: bool, allow_errors: bool, baseline: Path | None) -> int:
    """Check SDTM and ADaM folders and write the submission package, as `build` does.

    Reads the folders `studybuild sdtm` and `studybuild adam` wrote, rebuilds their metadata
    from the study spec, runs the SDTM and ADaM checks and writes OUT/ID/: the eCTD module 5
    folder m5/datasets/ID (tabulations/sdtm, analysis/adam/datasets: XPT v5, define.xml 2.1,
    define.html, the reviewer's guides csdrg.pdf and adrg.pdf) and beside it dataset-json/,
    validation/, traceability/ (from the folders' traceability/, when there), report.html and
    manifest.json. If the checks find errors nothing is exported, the previous package stays,
    and the validation report goes to OUT/ID.refused/ (exit 1), unless --allow-errors.
    """
    _check_study(study)
    fn = _impl("studybuild.pipeline", "export_cli", "export", 7)
    return fn(study, sdtm_dir, adam_dir, out, formats=formats, transliterate=transliterate,
              allow_errors=allow_errors, baseline=baseline)


@cli.command(context_settings=CONTEXT, short_help="List every conformance rule.")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
@handle_errors
def rules(as_json: bool) -> int:
    """List every conformance rule: id, severity, message, CORE/FDA/P21 ids it covers."""
    fn = _impl("validation.rules", "rules_cli", "rules", 5)
    return fn(as_json=as_json)


@cli.command(context_settings=CONTEXT, short_help="Whole pipeline for one study: raw to package.")
@study_option
@click.option("--raw", type=click.Path(path_type=Path), required=True,
              help="Folder of raw CSV forms.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output root; the study's eCTD-style folder is OUT/ID/.")
@click.option("--allow-errors", is_flag=True,
              help="Export even if checks find errors (recorded in report and manifest).")
@click.option("--format", "formats", default="xpt,json", show_default=True,
              help="Dataset formats to export: any of xpt, json, ndjson.")
@click.option("--transliterate", is_flag=True,
              help="Spell non-ASCII text in ASCII for XPT (documented table) instead of "
                   "refusing it.")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Findings baseline (YAML/JSON) marking accepted findings with a reason.")
@handle_errors
def build(study: str, raw: Path, out: Path, allow_errors: bool, formats: str,
          transliterate: bool, baseline: Path | None) -> int:
    """Run the whole pipeline for one study: sdtm, checks, adam, checks, export.

    The package is written to OUT/ID/ (m5/datasets/ID/tabulations/sdtm and
    analysis/adam/datasets with define.xml and the reviewer's guides, dataset-json, validation,
    traceability, report.html, manifest.json) only if the checks find no errors; otherwise
    nothing is exported, the previous package stays, and the validation report goes to
    OUT/ID.refused/ (exit 1).
    """
    _check_study(study)
    fn = _impl("studybuild.pipeline", "build_cli", "build", 7)
    return fn(study, raw, out, allow_errors=allow_errors, formats=formats,
              transliterate=transliterate, baseline=baseline)


@cli.command(context_settings=CONTEXT, short_help="Simulate and build every study (make demo).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Output root (one folder per study).")
@click.option("--subjects", type=click.IntRange(min=1), default=None,
              help="Subjects per study (default: each study's planned size).")
@click.option("--seed", type=int, default=20240501, show_default=True, help="Random seed.")
@handle_errors
def demo(out: Path, subjects: int | None, seed: int) -> int:
    """Simulate and build every study in specs/studies/ (the README's `make demo`)."""
    fn = _impl("studybuild.pipeline", "demo_cli", "demo", 7)
    return fn(out, subjects=subjects, seed=seed)


def main() -> None:
    cli(prog_name="studybuild")


if __name__ == "__main__":
    main()
