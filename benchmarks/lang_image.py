#!/usr/bin/env python3
"""Build the language-heavy benchmark image (issues 3 and 5) without a Docker engine.

Usage: python benchmarks/lang_image.py [--work benchmarks/work]

Writes WORK/lang.docker.tar (``docker save`` layout, plain layers) and WORK/lang.oci
(OCI layout dir, gzip/zstd/plain layers as tests/e2e_images.py builds them).

The image is the end-to-end test image of tests/e2e_images.py (Debian 9 dpkg status, old
flask/requests/urllib3/jinja2 from real ``pip install``, lodash/minimist from real
``npm install``, a fat jar with log4j-core 2.14.1 nested two levels deep, a Go binary, and an
upgrade layer with whiteouts), plus more real installs so that the comparison has weight:
django 2.2 with its dependencies and PyYAML 5.4 (a cp39 manylinux wheel, so a compiled
extension module too) in their own pip layer, and express 4.16.0 with its whole dependency
tree in the npm layer. The layer builders are imported from tests/, not copied.
Downloads are cached under WORK/lang-cache, so a rebuild is offline.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

import e2e_images as e2e  # noqa: E402  (tests/ is not a package)
from imagebuild import BuiltImage, LayerSpec, build_image, directory, file  # noqa: E402

CORPUS = Path("/work/shared/corpus")
REPO_TAG = "layerscan/bench-lang:1.0"
# pure-Python wheels for the interpreter of the image's site-packages (python3.9)
EXTRA_PIP = ("django==2.2.10", "sqlparse==0.3.0", "pytz==2019.3", "pyyaml==5.4")
PIP_TARGET_PLATFORM = ("--python-version=3.9", "--implementation=cp", "--platform=manylinux1_x86_64")
NPM_RELEASES = (*e2e.NPM_RELEASES, "express@4.16.0")

CREATED_BY = (
    e2e.CREATED_BY[0],
    e2e.CREATED_BY[1],
    "/bin/sh -c pip install --no-deps " + " ".join(EXTRA_PIP),
    "RUN /bin/sh -c cd /app && npm install " + " ".join(NPM_RELEASES) + " # buildkit",
    e2e.CREATED_BY[3],
    e2e.CREATED_BY[4],
    e2e.CREATED_BY[5],
)


@dataclass(frozen=True)
class LangInstalls:
    site: Path  # e2e pip layer
    extra_site: Path  # django / pyyaml layer
    upgrade: Path  # urllib3 upgrade (whiteout layer)
    app: Path  # npm app dir with node_modules


def install_key() -> str:
    text = "\n".join((*e2e.PIP_RELEASES, e2e.PIP_UPGRADE, *EXTRA_PIP, *PIP_TARGET_PLATFORM, *NPM_RELEASES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def install_all(cache: Path) -> LangInstalls:
    """Real pip/npm installs (cached by what is installed)."""
    work = cache / f"installs-{install_key()}"
    work.mkdir(parents=True, exist_ok=True)
    return LangInstalls(
        site=e2e.pip_install(work / "site", e2e.PIP_RELEASES, cache),
        extra_site=e2e.pip_install(work / "site-extra", (*PIP_TARGET_PLATFORM, *EXTRA_PIP), cache),
        upgrade=e2e.pip_install(work / "site-upgrade", (e2e.PIP_UPGRADE,), cache),
        app=e2e.npm_install(work / "app", NPM_RELEASES, cache),
    )


def go_binary() -> Path:
    case = CORPUS / "fixtures" / e2e.GO_CASE
    return next(p for p in sorted(case.iterdir()) if p.name != "expected.json")


def layers(inst: LangInstalls) -> list[LayerSpec]:
    return [
        e2e.base_layer(CORPUS),
        LayerSpec(e2e.tree_entries(inst.site, e2e.SITE, skip_top=("bin",)), created_by=CREATED_BY[1]),
        LayerSpec(e2e.tree_entries(inst.extra_site, e2e.SITE, skip_top=("bin",)), created_by=CREATED_BY[2]),
        LayerSpec(e2e.tree_entries(inst.app, e2e.APP_DIR), created_by=CREATED_BY[3]),
        LayerSpec([directory("srv"), file(e2e.JAR_PATH, e2e.fat_jar())], created_by=CREATED_BY[4],
                  compression="none"),
        LayerSpec([directory("usr/local/bin"), file(e2e.GO_PATH, go_binary().read_bytes(), 0o755)],
                  created_by=CREATED_BY[5]),
        e2e.upgrade_layer(inst.site, inst.upgrade, e2e.debian_status(CORPUS)),
    ]


def build(work: Path) -> tuple[Path, Path]:
    """Build the image; return (docker archive, OCI layout dir)."""
    inst = install_all(work / "lang-cache")
    image: BuiltImage = build_image(layers(inst), empty_steps={
        1: ['/bin/sh -c #(nop)  CMD ["bash"]'],
        7: ['/bin/sh -c #(nop)  ENTRYPOINT ["java", "-jar", "/srv/app.jar"]']})
    archive = image.write_docker_archive(work / "lang.docker.tar", REPO_TAG)
    oci = work / "lang.oci"
    shutil.rmtree(oci, ignore_errors=True)
    image.write_oci_dir(oci, "latest")
    return archive, oci


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=str(HERE / "work"))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        archive, oci = build(work)
    except e2e.BuildSkipped as exc:
        print(f"cannot build the image: {exc}", file=sys.stderr)
        return 2
    print(f"{archive} ({archive.stat().st_size // 1024} KiB)\n{oci}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
