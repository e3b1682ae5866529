"""VEX documents: statements that a product is not affected by (or has fixed) a
vulnerability. Supported: OpenVEX (JSON) and CycloneDX VEX (JSON, a BOM with a
``vulnerabilities`` array). ``not_affected`` and ``fixed`` statements suppress a
finding; every suppression keeps its statement for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from layerscan.errors import UsageError, InputNotFoundError
from layerscan.model import Finding
from layerscan.textload import LoadError, parse_json

MAX_VEX = 64 * 1024 * 1024
SUPPRESSING = frozenset({"not_affected", "fixed"})

# CycloneDX analysis.state -> OpenVEX-like status
_CDX_STATE = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "resolved": "fixed",
    "resolved_with_pedigree": "fixed",
    "exploitable": "affected",
    "in_triage": "under_investigation",
}


@dataclass(frozen=True)
class VexStatement:
    vulnerability: str
    products: tuple[str, ...]  # purls (or bom-refs resolved to purls); empty = every product
    status: str  # not_affected, fixed, affected, under_investigation
    justification: str = ""
    statement: str = ""
    source: str = ""

    def applies_to(self, finding: Finding) -> bool:
        ids = {finding.vulnerability_id.upper(), *(a.upper() for a in finding.aliases)}
        if self.vulnerability.upper() not in ids:
            return False
        if not self.products:
            return True
        purl = finding.package.purl
        return any(_same_package(p, purl) for p in self.products)

    def describe(self) -> str:
        parts = [f"VEX {self.status}"]
        if self.justification:
            parts.append(self.justification)
        if self.statement:
            parts.append(self.statement)
        return ": ".join(parts) + (f" ({self.source})" if self.source else "")


def _same_package(product: str, purl: str) -> bool:
    if not purl or not product.startswith("pkg:"):
        return False
    base_p, base_q = product.split("?", 1)[0], purl.split("?", 1)[0]
    if "@" in base_p:
        return base_p == base_q
    return base_p == base_q.split("@", 1)[0]


def _openvex(doc: dict, name: str) -> list[VexStatement]:
    out = []
    for i, st in enumerate(doc.get("statements") or []):
        if not isinstance(st, dict):
            continue
        vuln = st.get("vulnerability")
        vid = vuln.get("name") or vuln.get("@id") if isinstance(vuln, dict) else vuln
        if not isinstance(vid, str):
            raise UsageError(f"{name}: statement {i} has no vulnerability name")
        products = []
        for prod in st.get("products") or []:
            pid = prod.get("@id") if isinstance(prod, dict) else prod
            if isinstance(pid, str):
                products.append(pid)
            if isinstance(prod, dict):
                for sub in prod.get("subcomponents") or []:
                    sid = sub.get("@id") if isinstance(sub, dict) else sub
                    if isinstance(sid, str):
                        products.append(sid)
        out.append(VexStatement(
            vulnerability=vid, products=tuple(products), status=str(st.get("status", "")),
            justification=str(st.get("justification") or ""),
            statement=str(st.get("impact_statement") or st.get("status_notes") or ""),
            source=name))
    return out


def _cyclonedx(doc: dict, name: str) -> list[VexStatement]:
    refs = {}
    for comp in doc.get("components") or []:
        if isinstance(comp, dict) and comp.get("bom-ref") and comp.get("purl"):
            refs[comp["bom-ref"]] = comp["purl"]
    out = []
    for v in doc.get("vulnerabilities") or []:
        if not isinstance(v, dict) or not isinstance(v.get("id"), str):
            continue
        analysis = v.get("analysis") or {}
        state = _CDX_STATE.get(str(analysis.get("state", "")), "")
        if not state:
            continue
        products = []
        for aff in v.get("affects") or []:
            ref = aff.get("ref") if isinstance(aff, dict) else None
            if isinstance(ref, str):
                products.append(refs.get(ref, ref.split("#", 1)[-1] if ref.startswith("urn:cdx:") else ref))
        out.append(VexStatement(
            vulnerability=v["id"], products=tuple(products), status=state,
            justification=str(analysis.get("justification") or ""),
            statement=str(analysis.get("detail") or ""), source=name))
    return out


def parse_vex(data: bytes, name: str = "vex") -> list[VexStatement]:
    try:
        doc = parse_json(data)
    except LoadError as exc:
        raise UsageError(f"{name}: VEX file is not valid JSON ({exc.detail})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{name}: VEX file must be a JSON object")
    if "statements" in doc:
        return _openvex(doc, name)
    if doc.get("bomFormat") == "CycloneDX" or "vulnerabilities" in doc:
        return _cyclonedx(doc, name)
    raise UsageError(f"{name}: not an OpenVEX or CycloneDX VEX document")


def load_vex(path: str | Path) -> list[VexStatement]:
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError("VEX file", p)
    if p.stat().st_size > MAX_VEX:
        raise UsageError(f"VEX file {p} is too large")
    return parse_vex(p.read_bytes(), p.name)
