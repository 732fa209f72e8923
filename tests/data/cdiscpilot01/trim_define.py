"""Make the trimmed define.xml copies in this folder from the CDISC pilot's Define-XML 1.0
files: only the datasets named, the ItemDefs, value lists, codelists, computation methods
and leaves they use; everything else (other datasets, ADaM results metadata) dropped. The XML
declaration's encoding is kept (UTF-8 for SDTM, ISO-8859-1 for ADaM).

    python tests/data/cdiscpilot01/trim_define.py \\
        ../shared/reference/third-party/cdiscpilot01/sdtm/define.xml define_sdtm.xml DM TS
    python tests/data/cdiscpilot01/trim_define.py \\
        ../shared/reference/third-party/cdiscpilot01/adam/define.xml define_adam.xml ADSL
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

DEF = "http://www.cdisc.org/ns/def/v1.0"


def trim(src: Path, out: Path, keep: set[str]) -> None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    tree = etree.parse(str(src), parser)
    root = tree.getroot()
    odm = etree.QName(root).namespace
    mdv = root.find(f"{{{odm}}}Study/{{{odm}}}MetaDataVersion")
    for g in mdv.findall(f"{{{odm}}}ItemGroupDef"):
        if g.get("Name") not in keep:
            mdv.remove(g)
    for el in list(mdv):
        if etree.QName(el).namespace not in (odm, DEF):     # adamref: results metadata
            mdv.remove(el)
    items = {i.get("OID"): i for i in mdv.findall(f"{{{odm}}}ItemDef")}
    vls = {v.get("OID"): v for v in mdv.findall(f"{{{DEF}}}ValueListDef")}
    used = {r.get("ItemOID") for g in mdv.findall(f"{{{odm}}}ItemGroupDef")
            for r in g.findall(f"{{{odm}}}ItemRef")}
    used_vl: set[str] = set()
    todo = list(used)
    while todo:
        item = items.get(todo.pop())
        ref = None if item is None else item.find(f"{{{DEF}}}ValueListRef")
        if ref is not None and ref.get("ValueListOID") not in used_vl:
            used_vl.add(ref.get("ValueListOID"))
            for r in vls[ref.get("ValueListOID")].findall(f"{{{odm}}}ItemRef"):
                if r.get("ItemOID") not in used:
                    used.add(r.get("ItemOID"))
                    todo.append(r.get("ItemOID"))
    for oid, item in items.items():
        if oid not in used:
            mdv.remove(item)
    for oid, vl in vls.items():
        if oid not in used_vl:
            mdv.remove(vl)
    kept = [items[o] for o in used if o in items]
    lists = {r.get("CodeListOID") for i in kept for r in i.findall(f"{{{odm}}}CodeListRef")}
    methods = {i.get(f"{{{DEF}}}ComputationMethodOID") for i in kept}
    for cl in mdv.findall(f"{{{odm}}}CodeList"):
        if cl.get("OID") not in lists:
            mdv.remove(cl)
    for m in mdv.findall(f"{{{DEF}}}ComputationMethod"):
        if m.get("OID") not in methods:
            mdv.remove(m)
    leaves = {g.get(f"{{{DEF}}}ArchiveLocationID") for g in mdv.findall(f"{{{odm}}}ItemGroupDef")}
    leaves |= {d.get("leafID") for d in mdv.iter(f"{{{DEF}}}DocumentRef")}
    for leaf in mdv.findall(f"{{{DEF}}}leaf"):
        if leaf.get("ID") not in leaves:
            mdv.remove(leaf)
    etree.indent(root, space="  ")
    tree.write(str(out), xml_declaration=True, encoding=tree.docinfo.encoding)


if __name__ == "__main__":
    trim(Path(sys.argv[1]), Path(sys.argv[2]), set(sys.argv[3:]))
