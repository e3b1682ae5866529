#!/usr/bin/env python3
"""Regenerate the offline demo: examples/demo-image.tar and examples/feeds/.

The demo lets `layerscan` be tried on a fresh machine with no network:
a 3-layer image (a Debian 9 package database excerpt, an old pip install, a
fat jar with a nested log4j-core 2.14.1) and a few real advisory records
copied unchanged from ../shared/corpus (see examples/feeds/PROVENANCE.txt).

    python examples/make_demo.py [CORPUS_DIR]
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from imagebuild import LayerSpec, build_image, file  # noqa: E402

DEBS = ("libexpat1", "zlib1g", "libssl1.1", "openssl", "bash", "tzdata")
PIP = {"urllib3": "1.24.1", "Jinja2": "2.10"}
DLA_SOURCES = ("expat", "zlib", "openssl1.0", "openssl", "bash", "tzdata")


def dpkg_excerpt(corpus: Path) -> str:
    status = (corpus / "fixtures/deb/real-debian9-stretch-image/var/lib/dpkg/status").read_text()
    stanzas = [s for s in status.split("\n\n") if re.search(rf"^Package: ({'|'.join(DEBS)})$", s, re.M)]
    return "\n\n".join(stanzas) + "\n"


def metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: demo\n"


def fat_jar() -> bytes:
    def jar(members: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
        return buf.getvalue()

    log4j = jar({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n\r\n",
                 "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties":
                 b"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n"})
    return jar({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nStart-Class: demo.App\r\n\r\n",
                "BOOT-INF/lib/log4j-core-2.14.1.jar": log4j})


def write_image(corpus: Path) -> None:
    site = "usr/local/lib/python3.9/site-packages"
    layers = [
        LayerSpec([file("etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 9 (stretch)"\nID=debian\nVERSION_ID="9"\n'),
                   file("etc/debian_version", "9.13\n"),
                   file("var/lib/dpkg/status", dpkg_excerpt(corpus))], "ADD rootfs.tar.xz / (Debian 9 excerpt)"),
        LayerSpec([file(f"{site}/{n}-{v}.dist-info/METADATA", metadata(n, v)) for n, v in PIP.items()],
                  "RUN pip install " + " ".join(f"{n}=={v}" for n, v in PIP.items())),
        LayerSpec([file("srv/app.jar", fat_jar())], "COPY app.jar /srv/app.jar"),
    ]
    build_image(layers).write_docker_archive(HERE / "demo-image.tar", "demo/app:1.0")


def write_feeds(corpus: Path) -> None:
    out = HERE / "feeds"
    out.mkdir(exist_ok=True)
    for ghsa in ("GHSA-jfh8-c2jp-5v3q", "GHSA-7rjr-3q55-vv33"):
        src = corpus / f"feeds/osv-ghsa-curated/{ghsa}.json"
        (out / src.name).write_bytes(src.read_bytes())
    pypa = next((corpus / "feeds/osv-pypi-pypa").glob("*.zip"))
    with zipfile.ZipFile(pypa) as z:
        for name in z.namelist():
            if re.match(r"vulns/(urllib3|jinja2)/PYSEC-.*\.yaml$", name):
                (out / Path(name).name).write_bytes(z.read(name))
    dla = gzip.open(corpus / "feeds/debian-security-tracker/data/DLA/list.gz", "rt").read()
    entries = re.split(r"\n(?=\[)", dla)
    keep = [e for e in entries if re.search(rf"\[stretch\] - ({'|'.join(DLA_SOURCES)}) ", e)]
    (out / "DLA-list").mkdir(exist_ok=True)
    (out / "DLA-list" / "list").write_text("\n".join(keep) + "\n")
    kev = json.loads((corpus / "feeds/cisa-kev/known_exploited_vulnerabilities.json").read_text())
    kev["vulnerabilities"] = [v for v in kev["vulnerabilities"] if v["cveID"] in ("CVE-2021-44228", "CVE-2021-45046")]
    kev["count"] = len(kev["vulnerabilities"])
    (out / "known_exploited_vulnerabilities.json").write_text(json.dumps(kev, indent=1))
    (out / "debian.md").write_bytes((corpus / "feeds/endoflife-date/products/debian.md").read_bytes())


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "corpus"
    write_image(corpus)
    write_feeds(corpus)


if __name__ == "__main__":
    main()
