"""Safe XML parsing for build files: no DTDs, no entities, no network (defusedxml)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException


class XmlError(ValueError):
    pass


def parse_xml(data: bytes) -> Element:
    """Parse ``data`` (encoding from its declaration) with namespaces stripped from tags."""
    try:
        root = safe_et.fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, LookupError, ValueError) as exc:
        raise XmlError(f"invalid XML: {exc}") from exc
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
    return root


def child_text(element: Element | None, tag: str) -> str:
    if element is None:
        return ""
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""
