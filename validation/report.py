"""Validation reports: console summary, report.json, report.html, junit.xml, suites/*.json.

Every file is written atomically and is byte-identical when the same inputs are validated
again: no timestamps, findings in a fixed order (severity, dataset, rule, record, variable).

- ``report.json``: every finding with rule id, the CORE / FDA / P21 ids it covers, dataset,
  variable, 1-based record number in file order, record keys, value, message, source file and
  (if accepted by the baseline) the reason; per-dataset and per-rule summaries; the gate.
- ``report.html``: one self-contained page (no network) for a reviewer: counts, per-dataset
  summary, rules, and the findings table with filters (text, severity, dataset, rule,
  accepted).
- ``junit.xml``: one ``testcase`` per rule run, failing when the rule has error-level
  findings, so CI systems show each rule as a test.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from studybuild import standards
from studybuild.atomic import write_text

if TYPE_CHECKING:
    from validation.run import ValidationReport

MAX_JUNIT_LINES = 50
KIND_TEXT = {"SDTM": "SDTM", "ADaM": "ADaM", "mixed": "SDTM and ADaM", "empty": "no"}


def report_json(report: "ValidationReport") -> str:
    return json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n"


def write_reports(report: "ValidationReport", out_dir: Path) -> list[Path]:
    """Write report.json, report.html, junit.xml and suites/<dataset>.json into ``out_dir``;
    return the paths written."""
    from validation.suites import suite_filename

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    paths = [write_text(out_dir / "report.json",
                        json.dumps(data, indent=1, ensure_ascii=False) + "\n"),
             write_text(out_dir / "report.html", render_html(data)),
             write_text(out_dir / "junit.xml", render_junit(data))]
    for name, suite in sorted(report.suites.items()):
        paths.append(write_text(out_dir / "suites" / suite_filename(name),
                                json.dumps(suite, indent=1, ensure_ascii=False) + "\n"))
    return paths


# --------------------------------------------------------------------------------------------
# console
# --------------------------------------------------------------------------------------------

def console_summary(report: "ValidationReport", *, console=None, top: int = 10) -> None:
    """Counts by severity, a per-dataset table and the most frequent finding groups (rich).

    Readable at 80 columns and when piped: the finding groups are one entry each, severity,
    rule and count in fixed columns and the message wrapped under its own indent, instead of
    a table whose columns shrink to nothing on a narrow console."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    width = max(60, console.width or 80)
    c = report.counts()
    acc = sum(1 for f in report.findings if f.accepted is not None)
    style = "bold red" if c["error"] else ("bold yellow" if c["warning"] else "bold green")
    head = (f"{KIND_TEXT.get(report.kind, report.kind)} {report.source or ''}".rstrip()
            + f": {c['error']:,} errors, "
            f"{c['warning']:,} warnings, {c['notice']:,} notices"
            + (f", {acc:,} accepted" if acc else ""))
    console.print(Text(head, style=style), soft_wrap=True)
    console.print(f"{len(report.datasets)} datasets, {len(report.rules_run)} rules run; "
                  f"metadata from {report.metadata_source}", highlight=False, soft_wrap=True)
    for f in report.build_findings:
        console.print(f"build findings from {f}", highlight=False, soft_wrap=True)
    if report.define_declares is not None:
        version, declared = report.define_declares
        checked = {f"SDTMIG {standards.SDTMIG_VERSION}", f"ADaMIG {standards.ADAMIG_VERSION}"}
        if declared not in checked or not version.startswith("2."):
            ig = (f"ADaMIG {standards.ADAMIG_VERSION}" if report.kind == "ADaM" else
                  f"SDTMIG {standards.SDTMIG_VERSION}")
            console.print(f"define.xml is Define-XML {version} and declares "
                          f"{declared or 'no standard'}; the rules are those of {ig} and CT "
                          f"{standards.SDTM_CT_VERSION}", highlight=False, soft_wrap=True)
    for name, files in sorted(report.splits.items()):
        console.print(f"{name} is split: combined from "
                      + ", ".join(f"{f} ({n:,} records)" for f, n in files)
                      + "; rows in findings count within each file", highlight=False,
                      soft_wrap=True)
    by_codec: dict[str, list[str]] = {}
    for name, enc in sorted(report.encodings.items()):
        by_codec.setdefault(enc, []).append(name)
    for enc, names in sorted(by_codec.items()):
        console.print(f"text read as {enc}, not UTF-8: {', '.join(names)}", highlight=False,
                      soft_wrap=True)
    t = Table(show_header=True, header_style="bold")
    for col in ("dataset", "records", "variables", "errors", "warnings", "notices"):
        t.add_column(col, justify="right" if col != "dataset" else "left", no_wrap=True)
    for d in report.dataset_summaries():
        t.add_row(d.name, "-" if d.records is None else f"{d.records:,}",
                  "-" if d.variables is None else str(d.variables), f"{d.errors:,}",
                  f"{d.warnings:,}", f"{d.notices:,}")
    console.print(t)
    groups: dict[tuple, list] = {}
    for f in report.findings.sorted():
        if f.accepted is not None:
            continue
        groups.setdefault((f.severity.rank, f.rule_id, f.dataset, f.variable, f.message),
                          []).append(f)
    if not groups:
        return
    ranked = sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]), kv[0][1:]))
    shown = ranked[:top]
    console.print(Text(f"top findings ({len(shown)} of {len(ranked)} groups; all in "
                       "report.json / report.html)", style="bold"), soft_wrap=True)
    for line, sev in finding_lines(shown, width):
        if sev:
            sev_style = {"error": "red", "warning": "yellow"}.get(sev, "")
            console.print(Text.assemble((line[:len(sev)], sev_style), line[len(sev):]),
                          soft_wrap=True)
        else:
            console.print(Text(line), soft_wrap=True)


def finding_lines(groups, width: int = 80) -> list[tuple[str, str]]:
    """Plain-text lines for finding groups ``[((rank, rule, dataset, variable, message),
    findings), ...]``: ``severity  rule  count  DATASET.VARIABLE: message (first: row N
    USUBJID)``, wrapped at ``width`` under the message column. Returns (line, severity of the
    group on its first line, else "")."""
    import textwrap

    rule_w = max([14] + [len(k[1]) for k, _ in groups])
    count_w = max([5] + [len(f"{len(fs):,}") for _, fs in groups])
    indent = " " * (8 + rule_w + 1 + count_w + 2)
    out = []
    for (_, rid, ds, var, msg), fs in groups:
        f = fs[0]
        where = ".".join(p for p in (ds, var) if p)
        first = "" if f.row is None else f"row {f.row}"
        subj = dict(f.keys).get("USUBJID")
        if subj:
            first = f"{first} {subj}".strip()
        body = (f"{where}: " if where else "") + msg + (f" (first: {first})" if first else "")
        prefix = f"{f.severity.value:<7} {rid:<{rule_w}} {len(fs):>{count_w},}  "
        lines = textwrap.wrap(body, width=max(20, width - len(indent)),
                              break_long_words=True, break_on_hyphens=False) or [""]
        out.append((prefix + lines[0], f.severity.value))
        out += [(indent + rest, "") for rest in lines[1:]]
    return out


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f0f0f0;position:sticky;top:0}
td.n{text-align:right}
.error{color:#b00020;font-weight:bold}.warning{color:#a05a00}.notice{color:#555}
tr.accepted td{color:#888;text-decoration:line-through}
.counts span{display:inline-block;margin-right:1.5em;font-size:1.1em}
#filters{margin:.5em 0;padding:.5em;background:#fafafa;border:1px solid #ddd}
#filters label{margin-right:1em}
.mono{font-family:Menlo,Consolas,monospace;font-size:12px;white-space:pre-wrap;
  overflow-wrap:break-word}
.id{white-space:nowrap}
.kv{display:inline-block}.key,.ids span{white-space:nowrap}
div.value{min-width:12em;max-width:30em;overflow-wrap:break-word}
td.msg{min-width:22em}
"""

_JS = """
function applyFilters(){
  var q=document.getElementById('q').value.toLowerCase();
  var sev=document.getElementById('sev').value, ds=document.getElementById('ds').value;
  var rule=document.getElementById('rule').value, acc=document.getElementById('acc').checked;
  var rows=document.querySelectorAll('#findings tbody tr'), shown=0;
  for(var i=0;i<rows.length;i++){
    var r=rows[i], ok=true;
    if(sev&&r.dataset.sev!==sev)ok=false;
    if(ds&&r.dataset.ds!==ds)ok=false;
    if(rule&&r.dataset.rule!==rule)ok=false;
    if(!acc&&r.dataset.acc==='1')ok=false;
    if(ok&&q&&r.textContent.toLowerCase().indexOf(q)<0)ok=false;
    r.style.display=ok?'':'none'; if(ok)shown++;
  }
  document.getElementById('shown').textContent=shown;
}
"""


def _e(v) -> str:
    return html.escape("" if v is None else str(v))


_PAIRS = re.compile(r"^[A-Za-z$_][A-Za-z0-9$_.]*=")


def _value_html(value) -> str:
    """A finding's value: ``KEY=value; KEY=value`` (what the cross-dataset rules report)
    as one unbreakable-looking box per pair, so lines break between pairs rather than inside
    a date or an id; any other value as text."""
    if value is None:
        return ""
    text = str(value)
    if "; " not in text or not _PAIRS.match(text):
        return _e(text)
    parts = text.split("; ")
    return " ".join(f"<span class='kv'>{_e(p)}{';' if i < len(parts) - 1 else ''}</span>"
                    for i, p in enumerate(parts))


def _ids_html(ids) -> str:
    """Rule ids, each kept on one line (``CORE-000022`` never splits at its hyphen)."""
    return ", ".join(f"<span>{_e(i)}</span>" for i in dict.fromkeys(ids))


def _header_where(data: dict) -> str:
    """What was checked, for the report's first line: ``SDTM datasets in <folder> of study
    X``; a report of the build (datasets checked in memory, no folder) says so instead of
    naming an empty path."""
    kind = KIND_TEXT.get(data["kind"], data["kind"])
    text = f"{_e(kind)} datasets"
    if data.get("source"):
        text += f" in <span class='mono'>{_e(data['source'])}</span>"
    elif data.get("gate"):
        text += " checked by the build before export"
    if data.get("study"):
        text += f" of study {_e(data['study'])}"
    return text


def render_html(data: dict) -> str:
    s = data["summary"]
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<title>studybuild validation report</title>",
             f"<style>{_CSS}</style></head><body>",
             "<h1>studybuild conformance report</h1>",
             f"<p>{_header_where(data)}"
             f" &middot; SDTMIG {_e(data['standards']['SDTMIG'])}, ADaMIG "
             f"{_e(data['standards']['ADaMIG'])}, CT {_e(data['standards']['CT'])}"
             f" &middot; metadata from {_e(data['metadata_source'])}"
             f" &middot; studybuild {_e(data['studybuild_version'])}</p>",
             "".join(f"<p>Findings of the build read from <span class='mono'>{_e(f)}</span>"
                     "</p>" for f in data.get("build_findings") or ()),
             "<p class='counts'>"
             f"<span class='error'>{s['error']} errors</span>"
             f"<span class='warning'>{s['warning']} warnings</span>"
             f"<span class='notice'>{s['notice']} notices</span>"
             f"<span>{s['accepted']} accepted</span>"
             f"<span>{s['rules_run']} rules run</span></p>"]
    gate = data.get("gate")
    if gate:
        parts.append(f"<p><b>Export gate ({_e(gate.get('stage'))}):</b> "
                     f"{_e(gate.get('result'))}"
                     + (" &mdash; <span class='error'>overridden with --allow-errors</span>"
                        if gate.get("override") else "") + "</p>")
    b = data.get("baseline")
    if b:
        parts.append(f"<p><b>Findings baseline</b> <span class='mono'>{_e(b['path'])}</span>: "
                     f"{b['entries']} entries, {b['accepted_findings']} findings accepted, "
                     f"{len(b['unused_entries'])} entries unused.</p>")
    parts.append("<h2>Datasets</h2><table><thead><tr><th>dataset</th><th>label</th>"
                 "<th>kind</th><th>records</th><th>variables</th><th>errors</th>"
                 "<th>warnings</th><th>notices</th><th>accepted</th><th>source</th></tr>"
                 "</thead><tbody>")
    for d in data["datasets"]:
        parts.append(f"<tr><td class='id'>{_e(d['name'])}</td><td>{_e(d['label'])}</td>"
                     f"<td>{_e(d['kind'])}</td>"
                     f"<td class='n'>{'' if d['records'] is None else d['records']}</td>"
                     f"<td class='n'>{'' if d['variables'] is None else d['variables']}</td>"
                     f"<td class='n error'>{d['errors'] or ''}</td>"
                     f"<td class='n warning'>{d['warnings'] or ''}</td>"
                     f"<td class='n notice'>{d['notices'] or ''}</td>"
                     f"<td class='n'>{d['accepted'] or ''}</td>"
                     f"<td class='mono'>{_e(Path(d['source']).name if d['source'] else '')}"
                     "</td></tr>")
    parts.append("</tbody></table>")
    failing = [r for r in data["rules"] if r["status"] != "passed"]
    parts.append(f"<h2>Rules with findings ({len(failing)} of {len(data['rules'])} run)</h2>"
                 "<table><thead><tr><th>rule</th><th>severity</th><th>message</th>"
                 "<th>errors</th><th>warnings</th><th>notices</th><th>accepted</th>"
                 "<th>CORE</th><th>FDA / P21</th></tr></thead><tbody>")
    for r in failing:
        c = r["findings"]
        parts.append(f"<tr><td class='id'>{_e(r['id'])}</td><td class='{_e(r['severity'])}'>"
                     f"{_e(r['severity'])}</td><td>{_e(r['message'])}"
                     + (f"<br><small>{_e(r['citation'])}</small>" if r.get("citation") else "")
                     + "</td>"
                     f"<td class='n'>{c['error'] or ''}</td><td class='n'>{c['warning'] or ''}"
                     f"</td><td class='n'>{c['notice'] or ''}</td>"
                     f"<td class='n'>{c['accepted'] or ''}</td>"
                     f"<td class='ids'>{_ids_html(r['core_ids'])}</td>"
                     f"<td class='ids'>{_ids_html(r['fda_ids'] + r['p21_ids'])}</td>"
                     "</tr>")
    parts.append("</tbody></table>")
    findings = data["findings"]
    dsets = sorted({f["dataset"] for f in findings})
    rules = sorted({f["rule_id"] for f in findings})
    parts.append(f"<h2>Findings (<span id='shown'>{len(findings)}</span> shown of "
                 f"{len(findings)})</h2><div id='filters'>"
                 "<label>search <input id='q' oninput='applyFilters()' size='30'></label>"
                 "<label>severity <select id='sev' onchange='applyFilters()'>"
                 "<option value=''>all</option><option>error</option><option>warning</option>"
                 "<option>notice</option></select></label>"
                 "<label>dataset <select id='ds' onchange='applyFilters()'>"
                 "<option value=''>all</option>"
                 + "".join(f"<option>{_e(d)}</option>" for d in dsets) +
                 "</select></label><label>rule <select id='rule' onchange='applyFilters()'>"
                 "<option value=''>all</option>"
                 + "".join(f"<option>{_e(r)}</option>" for r in rules) +
                 "</select></label><label><input type='checkbox' id='acc' checked "
                 "onchange='applyFilters()'> show accepted</label></div>")
    parts.append("<table id='findings'><thead><tr><th>severity</th><th>rule</th>"
                 "<th>dataset</th><th>variable</th><th>record</th><th>keys</th><th>value</th>"
                 "<th>message</th><th>CORE / FDA / P21</th><th>accepted because</th></tr>"
                 "</thead><tbody>")
    for f in findings:
        keys = " ".join(f"<span class='key'>{_e(k)}={_e(v)}</span>"
                        for k, v in f["keys"].items())
        variables = ",<wbr>".join(_e(v) for v in f["variable"].split(","))
        ids = _ids_html(f["core_ids"] + f["fda_ids"] + f["p21_ids"])
        acc = f.get("accepted")
        parts.append(
            f"<tr data-sev='{_e(f['severity'])}' data-ds='{_e(f['dataset'])}' "
            f"data-rule='{_e(f['rule_id'])}' data-acc='{1 if acc else 0}'"
            f"{' class=accepted' if acc else ''}>"
            f"<td class='{_e(f['severity'])}'>{_e(f['severity'])}</td>"
            f"<td class='id'>{_e(f['rule_id'])}</td>"
            f"<td class='id'>{_e(f['dataset'])}</td><td>{variables}</td>"
            f"<td class='n'>{'' if f['row'] is None else f['row']}</td>"
            f"<td class='mono'>{keys}</td>"
            f"<td class='mono'><div class='value'>{_value_html(f['value'])}</div></td>"
            f"<td class='msg'>{_e(f['message'])}</td><td class='ids'>{ids}</td>"
            f"<td>{_e(acc)}</td></tr>")
    parts.append("</tbody></table>")
    parts.append(f"<script>{_JS}</script></body></html>\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# JUnit
# --------------------------------------------------------------------------------------------

def render_junit(data: dict) -> str:
    from lxml import etree

    by_rule: dict[str, list[dict]] = {}
    for f in data["findings"]:
        by_rule.setdefault(f["rule_id"], []).append(f)
    rules = data["rules"]
    failures = sum(1 for r in rules if r["findings"]["error"])
    root = etree.Element("testsuites", name="studybuild validate", tests=str(len(rules)),
                         failures=str(failures), errors="0")
    suite = etree.SubElement(root, "testsuite", name=f"studybuild.{data['kind']}",
                             tests=str(len(rules)), failures=str(failures), errors="0",
                             skipped="0")
    props = etree.SubElement(suite, "properties")
    for k, v in (("source", data["source"]), ("SDTMIG", data["standards"]["SDTMIG"]),
                 ("ADaMIG", data["standards"]["ADaMIG"]), ("CT", data["standards"]["CT"])):
        etree.SubElement(props, "property", name=k, value=str(v))
    for r in rules:
        c = r["findings"]
        tc = etree.SubElement(suite, "testcase", classname=f"studybuild.{r['kind'] or 'rule'}",
                              name=f"{r['id']}: {r['message']}")
        fs = [f for f in by_rule.get(r["id"], []) if not f.get("accepted")]
        lines = []
        for f in fs[:MAX_JUNIT_LINES]:
            where = ".".join(p for p in (f["dataset"], f["variable"]) if p)
            if f["row"] is not None:
                where += f" row {f['row']}"
            keys = " ".join(f"{k}={v}" for k, v in f["keys"].items())
            lines.append(f"[{f['severity']}] {where} {keys} {f['message']}"
                         + (f" (value: {f['value']})" if f["value"] else ""))
        if len(fs) > MAX_JUNIT_LINES:
            lines.append(f"... and {len(fs) - MAX_JUNIT_LINES} more (see report.json)")
        if c["error"]:
            fail = etree.SubElement(tc, "failure", type="error",
                                    message=f"{c['error']} error(s), {c['warning']} warning(s)")
            fail.text = "\n".join(lines)
        elif lines:
            out = etree.SubElement(tc, "system-out")
            out.text = "\n".join(lines)
    return etree.tostring(root, pretty_print=True, xml_declaration=True,
                          encoding="UTF-8").decode("utf-8")
