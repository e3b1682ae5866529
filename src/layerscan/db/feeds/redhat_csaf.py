"""Red Hat security advisories in CSAF 2.0 (``security.access.redhat.com/data/csaf/v2/advisories/``).

One document per erratum (RHSA/RHBA/RHEA). Its ``product_tree`` names the
products (``AppStream-9.3.0.Z.MAIN`` with CPE ``cpe:/a:redhat:enterprise_linux:9::appstream``)
and the package builds (purl ``pkg:rpm/redhat/tigervnc@1.13.1-3.el9_3.3?arch=x86_64``);
``relationships`` join them into full product ids (``AppStream-9.3.0.Z.MAIN:tigervnc-0:...``),
which each vulnerability's ``product_status.fixed`` lists. The result is stored per CVE
(``errata.per_cve``) with the erratum id as alias; every row carries the CVE's Red Hat
impact (``threats[category=impact]``) as severity and the raw label as urgency.

Which products become rows (namespace ``Red Hat:<major>``, what ``match.namespace``
builds for ``rhel``/``centos`` images):

- CPE product ``enterprise_linux`` (BaseOS, AppStream, CRB, Server, Client, add-ons):
  the mainline stream of the major release. A ``...Z.MAIN.EUS`` product id with this
  CPE is the mainline stream of its day, so it is kept.
- ``rhel_els`` (Extended Life-cycle Support of 6 and 7): the only stream a major release
  still gets after its maintenance ended; there is no parallel mainline to mix with.
- Skipped: ``rhel_eus``/``rhel_aus``/``rhel_e4s``/``rhel_tus`` and other long-life minor
  streams. Their fixes carry the minor release's numbers (``el8_6``), lower than the
  mainline fix of the same CVE; an image cannot tell from os-release whether it follows
  such a stream, and a lower fix would call an unfixed mainline package "fixed".
- Skipped: products that are not RHEL (OpenShift, Quay, Developer Hub, JBoss, Satellite,
  container images ``pkg:oci``...).

Packages are binary rpm names (the matcher looks rpm packages up by binary name). A
source rpm (``arch=src``) row is used only when the erratum lists no binary build for
that product (trimmed documents); ``-debuginfo``/``-debugsource`` builds are left out.
Per (namespace, package, module stream) the lowest fixed ``[epoch:]version-release``
over the architectures is kept (``0:`` dropped: the rpm scheme reads a missing epoch as 0).

Module streams (purl qualifier ``rpmmod=ruby:3.1:...``): each stream keeps its own row,
never merged with another stream's or a non-modular one, and when the package version
belongs to the stream (``ruby 3.1.4`` in ``ruby:3.1``) the row's range starts at the
stream (``introduced 3.1``), so an install from another stream or a non-modular build
of an older version line is not compared against it. The matcher flags a package when
any row says it is below that row's fix, so separate rows can only add a finding,
never turn a vulnerable package into "fixed".
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping
from urllib.parse import parse_qs, unquote

from layerscan.db import redhat_sync
from layerscan.db.feeds.base import Feed, ParseStats
from layerscan.db.feeds.common import CVE_RE, normalise_severity, text, valid_id
from layerscan.db.feeds.errata import per_cve
from layerscan.db.feeds.members import Member
from layerscan.db.feeds.source import BuildInput, FetchOptions, FetchPlan, Source, keep_or_fail
from layerscan.errors import FeedError
from layerscan.model import CVSS, Advisory, Affected, Range, Severity
from layerscan.versions import InvalidVersion, get_scheme

if TYPE_CHECKING:
    from layerscan.db.fetch import Fetcher

SOURCE = "redhat"
NAMESPACE = "Red Hat"
MAINLINE_PRODUCTS = frozenset({"enterprise_linux", "rhel_els"})
_SKIPPED_SUFFIXES = ("-debuginfo", "-debugsource")
_CPE22 = re.compile(r"^cpe:/[aoh]:redhat:([a-z0-9_]+):([0-9][0-9.]*)", re.IGNORECASE)
_CPE23 = re.compile(r"^cpe:2\.3:[aoh]:redhat:([a-z0-9_]+):([0-9][0-9.]*)", re.IGNORECASE)
_ERRATUM_ID = re.compile(r"^RH[SBE]A-\d{4}:\d+$")
MAX_BRANCH_DEPTH = 16
MAX_PRODUCTS = 200_000


@dataclass(frozen=True)
class Build:
    """One rpm build of the product tree (from its purl)."""

    name: str
    evr: str  # "[epoch:]version-release", epoch 0 dropped
    version: str
    epoch: str
    arch: str
    stream: str = ""  # module "name:stream" for modular builds


def cpe_namespace(cpe: object) -> str:
    """'cpe:/o:redhat:enterprise_linux:9::baseos' -> 'Red Hat:9'; '' for a product we do not map."""
    if not isinstance(cpe, str):
        return ""
    m = _CPE22.match(cpe.strip()) or _CPE23.match(cpe.strip())
    if not m or m.group(1).lower() not in MAINLINE_PRODUCTS:
        return ""
    major = m.group(2).split(".")[0]
    return f"{NAMESPACE}:{major}" if major.isdigit() else ""


def parse_purl(purl: object) -> Build | None:
    """'pkg:rpm/redhat/bind@9.8.2-0.68.rc1.el6_10.17?arch=x86_64&epoch=32' -> Build; None if not an rpm."""
    if not isinstance(purl, str) or not purl.startswith("pkg:rpm/"):
        return None
    body, _, query = purl[len("pkg:rpm/"):].partition("?")
    path, at, version = body.partition("@")
    name = unquote(path.rsplit("/", 1)[-1])
    version = unquote(version)
    if not at or not name or "-" not in version or any(c.isspace() for c in name + version):
        return None
    quals = {k: v[0] for k, v in parse_qs(query).items() if v}
    epoch = quals.get("epoch", "0").strip() or "0"
    if not epoch.isdigit():
        return None
    evr = version if int(epoch) == 0 else f"{int(epoch)}:{version}"
    mod = quals.get("rpmmod", "").split(":")
    stream = f"{mod[0]}:{mod[1]}" if len(mod) >= 2 and mod[0] and mod[1] else ""
    return Build(name=name, evr=evr, version=version.rsplit("-", 1)[0], epoch=str(int(epoch)),
                 arch=quals.get("arch", ""), stream=stream)


def module_stream(purl: object) -> str:
    """'pkg:rpmmod/redhat/python36@3.6:8040020241213073301:9bf6f064' -> 'python36:3.6'; '' otherwise."""
    if not isinstance(purl, str) or not purl.startswith("pkg:rpmmod/"):
        return ""
    path, _, version = purl[len("pkg:rpmmod/"):].partition("?")[0].partition("@")
    name, stream = unquote(path.rsplit("/", 1)[-1]), unquote(version).split(":")[0]
    return f"{name}:{stream}" if name and stream else ""


@dataclass
class ProductTree:
    namespaces: dict[str, str] = field(default_factory=dict)  # product id -> "Red Hat:9" (mapped products)
    builds: dict[str, Build] = field(default_factory=dict)  # component product id -> build
    modules: dict[str, str] = field(default_factory=dict)  # module product id -> "python36:3.6"
    joins: dict[str, tuple[str, str]] = field(default_factory=dict)  # full id -> (component, product)


def _walk_branches(branches: object, tree: ProductTree, depth: int = 0) -> None:
    if not isinstance(branches, list) or depth > MAX_BRANCH_DEPTH:
        return
    for branch in branches:
        if not isinstance(branch, dict) or len(tree.namespaces) + len(tree.builds) > MAX_PRODUCTS:
            continue
        product = branch.get("product")
        if isinstance(product, dict) and isinstance(product.get("product_id"), str):
            helper = product.get("product_identification_helper")
            helper = helper if isinstance(helper, dict) else {}
            namespace = cpe_namespace(helper.get("cpe"))
            if namespace:
                tree.namespaces[product["product_id"]] = namespace
            build = parse_purl(helper.get("purl"))
            if build is not None:
                tree.builds[product["product_id"]] = build
            stream = module_stream(helper.get("purl"))
            if stream:
                tree.modules[product["product_id"]] = stream
        _walk_branches(branch.get("branches"), tree, depth + 1)


def product_tree(doc: Mapping[str, Any]) -> ProductTree:
    raw = doc.get("product_tree")
    tree = ProductTree()
    if not isinstance(raw, dict):
        return tree
    _walk_branches(raw.get("branches"), tree)
    for rel in raw.get("relationships") or []:
        if not isinstance(rel, dict) or rel.get("category") != "default_component_of":
            continue
        full = rel.get("full_product_name")
        full_id = full.get("product_id") if isinstance(full, dict) else None
        comp, prod = rel.get("product_reference"), rel.get("relates_to_product_reference")
        if isinstance(full_id, str) and isinstance(comp, str) and isinstance(prod, str):
            tree.joins[full_id] = (comp, prod)
    return tree


def resolve(tree: ProductTree, full_id: object) -> tuple[str, Build | None]:
    """(namespace, build) of a fixed full product id. Modular packages may hang off a module
    of the product ("AppStream-8.9.0.Z.MAIN:nodejs:18:...:nodejs-0:18.1-1...x86_64"): the chain
    is followed to the product, and the module's stream is the build's stream."""
    if not isinstance(full_id, str) or full_id not in tree.joins:
        return "", None
    comp, prod = tree.joins[full_id]
    stream = ""
    for _ in range(4):
        if prod in tree.namespaces or prod not in tree.joins:
            break
        module, prod = tree.joins[prod]
        stream = stream or tree.modules.get(module, "")
    build = tree.builds.get(comp)
    if build is not None and stream and not build.stream:
        build = dataclasses.replace(build, stream=stream)
    return tree.namespaces.get(prod, ""), build


def _row_key(namespace: str, build: Build) -> tuple[str, str, str]:
    return (namespace, build.name, build.stream)


def _lower(a: str, b: str) -> str:
    scheme = get_scheme("rpm")
    return a if scheme.key(a) <= scheme.key(b) else b


def fixed_builds(tree: ProductTree, fixed_ids: object, stats: ParseStats,
                 where: str) -> dict[tuple[str, str, str], Build]:
    """(namespace, package, stream) -> the build with the lowest fixed EVR, over arches."""
    binary: dict[tuple[str, str, str], Build] = {}
    source: dict[tuple[str, str, str], Build] = {}
    products_with_binaries: set[str] = set()
    for full_id in fixed_ids if isinstance(fixed_ids, list) else ():
        namespace, build = resolve(tree, full_id)
        if not namespace or build is None or build.name.endswith(_SKIPPED_SUFFIXES):
            continue
        out = source if build.arch == "src" else binary
        if build.arch != "src":
            products_with_binaries.add(namespace)
        key = _row_key(namespace, build)
        try:
            if key not in out or _lower(build.evr, out[key].evr) == build.evr:
                out[key] = build
        except InvalidVersion:
            stats.skip(f"{where}: {build.name} {build.evr!r} is not an rpm version")
    for key, build in source.items():  # trimmed documents list only the source rpm
        if key[0] not in products_with_binaries:
            binary.setdefault(key, build)
    return binary


def affected_row(namespace: str, build: Build, level: str, label: str) -> Affected:
    start = "0"
    if build.stream:
        stream = build.stream.split(":", 1)[1]
        if build.version == stream or build.version.startswith(stream + "."):
            start = stream if build.epoch == "0" else f"{build.epoch}:{stream}"
    return Affected(namespace=namespace, package=build.name, status="fixed", fixed_version=build.evr,
                    ranges=(Range(type="ECOSYSTEM", events=(("introduced", start), ("fixed", build.evr))),),
                    severity=level, urgency=label)


def impact(vuln: Mapping[str, Any]) -> str:
    """The CVE's Red Hat impact label ("Important", "Moderate"...), '' if none."""
    for threat in vuln.get("threats") or []:
        if isinstance(threat, dict) and threat.get("category") == "impact" and isinstance(threat.get("details"), str):
            return threat["details"].strip()[:40]
    return ""


def scores(vuln: Mapping[str, Any]) -> tuple[CVSS, ...]:
    out: list[CVSS] = []
    for score in vuln.get("scores") or []:
        if not isinstance(score, dict):
            continue
        for key in ("cvss_v3", "cvss_v2"):
            cvss = score.get(key)
            if isinstance(cvss, dict) and isinstance(cvss.get("vectorString"), str):
                base = cvss.get("baseScore")
                raw_version = cvss.get("version")
                version = raw_version if isinstance(raw_version, str) else key[-1] + ".0"
                out.append(CVSS(source=SOURCE, version=version, vector=cvss["vectorString"][:200],
                                score=float(base) if isinstance(base, (int, float)) else None))
    return tuple(dict.fromkeys(out))


def _note(notes: object, category: str) -> str:
    for note in notes if isinstance(notes, list) else ():
        if isinstance(note, dict) and note.get("category") == category:
            return text(note.get("text"))
    return ""


def _references(vuln: Mapping[str, Any], document: Mapping[str, Any]) -> tuple[str, ...]:
    refs = []
    for source in (document.get("references"), vuln.get("references")):
        for ref in source if isinstance(source, list) else ():
            if isinstance(ref, dict) and isinstance(ref.get("url"), str) and ref.get("category") == "self":
                refs.append(ref["url"][:500])
    return tuple(dict.fromkeys(refs))


def _cwes(vuln: Mapping[str, Any]) -> tuple[str, ...]:
    cwe = vuln.get("cwe")
    return (cwe["id"],) if isinstance(cwe, dict) and isinstance(cwe.get("id"), str) else ()


def looks_like_redhat_csaf(doc: object) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("document"), dict):
        return False
    document = doc["document"]
    tracking = document.get("tracking")
    publisher = document.get("publisher")
    tracking_id = tracking.get("id") if isinstance(tracking, dict) else None
    from_red_hat = isinstance(publisher, dict) and publisher.get("namespace") == "https://www.redhat.com"
    return (document.get("category") == "csaf_security_advisory" and isinstance(tracking_id, str)
            and (from_red_hat or bool(_ERRATUM_ID.match(tracking_id))))


def parse_advisory(doc: Mapping[str, Any], stats: ParseStats) -> Iterator[Advisory]:
    """One CSAF advisory document -> one Advisory per CVE it fixes (raises FeedError when malformed)."""
    document = doc.get("document")
    tracking = document.get("tracking") if isinstance(document, dict) else None
    erratum_id = tracking.get("id") if isinstance(tracking, dict) else None
    if not isinstance(document, dict) or not isinstance(tracking, dict) or not valid_id(erratum_id):
        raise FeedError("CSAF document without a valid document.tracking.id")
    assert isinstance(erratum_id, str)
    vulns = doc.get("vulnerabilities")
    if not isinstance(vulns, list):
        raise FeedError(f"{erratum_id}: 'vulnerabilities' is not a list")
    tree = product_tree(doc)
    aggregate = document.get("aggregate_severity")
    aggregate_label = text(aggregate.get("text"), 40) if isinstance(aggregate, dict) else ""
    base = Advisory(id=erratum_id, source=SOURCE, summary=text(document.get("title"), 1000),
                    published=text(tracking.get("initial_release_date"), 40),
                    modified=text(tracking.get("current_release_date"), 40))
    for vuln in vulns:
        if not isinstance(vuln, dict):
            stats.skip(f"{erratum_id}: vulnerability entry is not a mapping")
            continue
        yield from _per_vulnerability(base, vuln, tree, document, aggregate_label, stats)


def _per_vulnerability(base: Advisory, vuln: Mapping[str, Any], tree: ProductTree, document: Mapping[str, Any],
                       aggregate_label: str, stats: ParseStats) -> Iterator[Advisory]:
    cve = vuln.get("cve") if isinstance(vuln.get("cve"), str) and CVE_RE.fullmatch(vuln["cve"]) else ""
    label = impact(vuln) or aggregate_label
    level = normalise_severity(label)
    status = vuln.get("product_status")
    fixed = status.get("fixed") if isinstance(status, dict) else None
    builds = fixed_builds(tree, fixed, stats, f"{base.id}/{cve or 'no CVE'}")
    if not builds:
        return  # nothing RHEL-mainline fixed here (another product, an extended stream)
    rows = tuple(affected_row(ns, build, level, label) for (ns, _, _), build in sorted(builds.items()))
    erratum = dataclasses.replace(
        base, aliases=(cve,) if cve else (), affected=rows,
        summary=text(vuln.get("title"), 1000) or base.summary,
        details=_note(vuln.get("notes"), "description") or _note(document.get("notes"), "general"),
        severities=(Severity(source=SOURCE, level=level),) if level else (),
        cvss=scores(vuln), cwes=_cwes(vuln), references=_references(vuln, document))
    yield from per_cve(erratum, (cve,) if cve else None, {cve: level} if cve and level else None)


def fetch(fetcher: Fetcher, opts: FetchOptions, plan: FetchPlan) -> None:
    """The archive, then changes.csv / deletions.csv (``db.redhat_sync``) into ``redhat/advisories``."""
    root = opts.feed_dir / SOURCE
    try:
        if redhat_sync.sync(fetcher, opts.url(SOURCE), root, plan.state).changed:
            plan.changed.append(SOURCE)
    except (FeedError, OSError) as exc:
        if not keep_or_fail(plan, SOURCE, exc, (root / "advisories").is_dir()):
            return
    plan.inputs.append(BuildInput(paths=(root / "advisories",), feed=SOURCE, covers=(SOURCE,)))


class RedHatCsafFeed(Feed):
    name = SOURCE
    source = Source(SOURCE, redhat_sync.DEFAULT_URL, fetch)

    def accepts(self, member: Member, doc: object) -> bool:
        return looks_like_redhat_csaf(doc)

    def add(self, member: Member, doc: object, stats: ParseStats) -> Iterator[Advisory]:
        stats.records += 1
        assert isinstance(doc, dict)
        try:
            # materialise so a malformed document is skipped whole, not half-imported
            records = list(parse_advisory(doc, stats))
        except FeedError as exc:
            stats.skip(f"{member.name}: {exc}")
            return iter(())
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            stats.skip(f"{member.name}: malformed CSAF document ({exc.__class__.__name__})")
            return iter(())
        return iter(records)
