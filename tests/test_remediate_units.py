"""Remediation building blocks on real-shaped inputs: the Dockerfile's final FROM (ARGs,
stages, continuations, escape directive), the base-image evidence ladder, runtime evidence
and the endoflife.date cycle lookup (a database built from the corpus endoflife.date data),
and the hostile cases: annotations that are not references, garbage ENV, Dockerfiles
without an image. Expected dates come from the corpus product pages."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from imagebuild import LayerSpec, build_image, file

from layerscan.errors import UsageError
from layerscan.model import LayerInfo, OSInfo, Package
from layerscan.model.image import ImageMeta
from layerscan.policy.baselayers import BASE_DIGEST_LABEL, BASE_NAME_LABEL
from layerscan.remediate.base import identify_base
from layerscan.remediate.dockerfile import final_from
from layerscan.match.lifecycle import cycle_for, find_runtimes, os_entry, runtime_entries
from test_remediate_cli import EOL_DIR, expected_eol

DIGEST = "sha256:" + "ab" * 32


# ---- Dockerfile -----------------------------------------------------------------------------

MULTISTAGE = """\
# syntax=docker/dockerfile:1
ARG NODE_MAJOR=20
ARG DISTRO
FROM node:${NODE_MAJOR}-${DISTRO:-bookworm} AS deps
RUN npm ci
FROM deps AS build
RUN npm run build
FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot
COPY --from=build /app /app
"""


def test_final_stage_with_args():
    line = final_from(MULTISTAGE)
    assert line is not None and (line.image, line.line) == ("gcr.io/distroless/nodejs20-debian12:nonroot", 8)
    assert final_from(MULTISTAGE, {"NODE_MAJOR": "18"}).image == "gcr.io/distroless/nodejs18-debian12:nonroot"


def test_final_stage_built_from_an_earlier_stage_is_followed_back():
    text = MULTISTAGE.rsplit("FROM gcr.io", 1)[0] + "FROM build\nCMD [\"node\", \"app.js\"]\n"
    line = final_from(text, {"DISTRO": "slim"})
    assert line is not None and (line.image, line.stage) == ("node:20-slim", "deps")


def test_escape_directive_continuations_and_comments():
    text = "# escape=`\nARG BASE=python\nFROM --platform=linux/amd64 `\n# a comment inside\n  ${BASE}:3.12-slim `\n  AS app\n"
    line = final_from(text)
    assert line is not None and (line.image, line.line, line.stage) == ("python:3.12-slim", 3, "app")


def test_unresolved_args_are_reported():
    line = final_from("ARG TAG\nFROM debian:$TAG\n")
    assert line is not None and line.image == "debian:" and line.unresolved == ("TAG",)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "RUN echo hi\n", "\x00\xff" * 100])
def test_no_from_gives_no_base(text: str):
    assert final_from(text) is None


def test_from_without_an_image_is_an_error():
    with pytest.raises(UsageError):
        final_from("FROM --platform=linux/amd64\n")


# ---- base-image evidence ladder --------------------------------------------------------------

def meta(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
         boundary: bool = True) -> ImageMeta:
    """An image with one base layer (and its empty CMD when ``boundary``) and one own layer."""
    empty = {1: ['/bin/sh -c #(nop)  CMD ["bash"]']} if boundary else {}
    built = build_image([LayerSpec([file("etc/a", "a")], created_by="ADD rootfs /"),
                         LayerSpec([file("app/b", "b")], created_by="COPY . /app # buildkit")],
                        empty_steps=empty, labels=labels)
    layers = tuple(LayerInfo(i, d) for i, d in enumerate(built.diff_ids))
    return ImageMeta(diff_ids=built.diff_ids and tuple(built.diff_ids), layers=layers,
                     config_json=built.config.decode(), labels=tuple((labels or {}).items()),
                     annotations=tuple((annotations or {}).items()))


def test_manifest_annotation_beats_label_and_dockerfile():
    image = meta(labels={BASE_NAME_LABEL: "debian:11"},
                 annotations={BASE_NAME_LABEL: "docker.io/library/debian:bookworm-slim", BASE_DIGEST_LABEL: DIGEST})
    base = identify_base(image, dockerfile="FROM alpine:3.19\n")
    assert (base.level, base.name, base.tag, base.digest, base.evidence) == \
           ("declared", "debian", "bookworm-slim", DIGEST, "manifest annotation")
    assert base.layers == 1 and base.reference == f"debian:bookworm-slim@{DIGEST}"
    label = identify_base(meta(labels={BASE_NAME_LABEL: "ghcr.io/org/base:1.2"}))
    assert (label.level, label.name, label.tag, label.evidence) == ("declared", "ghcr.io/org/base", "1.2",
                                                                    "config label")


def test_dockerfile_then_heuristic_then_none():
    assert identify_base(meta(), dockerfile=MULTISTAGE).level == "dockerfile"
    heuristic = identify_base(meta())
    assert (heuristic.level, heuristic.layers, heuristic.name) == ("heuristic", 1, "")
    assert "boundary at layer 1" in heuristic.evidence
    nothing = identify_base(meta(boundary=False))
    assert (nothing.level, nothing.layers) == ("none", None)
    assert identify_base(None).level == "none"
    assert identify_base(meta(), dockerfile="FROM scratch\nCOPY app /\n").level == "heuristic"


def test_explicit_base_layer_count_wins_over_the_history():
    base = identify_base(meta(boundary=False, annotations={BASE_NAME_LABEL: "alpine:3.19"}), base_layers=1)
    assert (base.level, base.layers, base.boundary) == ("declared", 1, "--exclude-base-layers 1")


@pytest.mark.parametrize("name", ["\x1b[2J UPPER/Case:tag", "debian:" + "x" * 300, "::::", "a" * 5000, "-bad"])
def test_annotation_that_is_not_a_reference_is_kept_with_a_warning(name: str):
    base = identify_base(meta(annotations={BASE_NAME_LABEL: name}))
    assert base.level == "declared" and base.warnings and "does not parse" in base.warnings[0]
    assert len(base.name) <= 200


# ---- runtimes and end of life ------------------------------------------------------------------

@pytest.fixture(scope="module")
def eol_store(corpus: Path, tmp_path_factory: pytest.TempPathFactory):
    from layerscan.db.build import import_paths
    from layerscan.db.store import Store

    target = tmp_path_factory.mktemp("eol-db") / "layerscan.db"
    import_paths(target, [corpus / EOL_DIR])
    with Store.open(target) as store:
        yield store


def env_image(*env: str) -> ImageMeta:
    config = {"config": {"Env": ["PATH=/usr/bin", *env]}, "rootfs": {"type": "layers", "diff_ids": []}}
    return ImageMeta(config_json=json.dumps(config))


def pkg(name: str, version: str, type: str = "deb") -> Package:
    return Package(name=name, version=version, type=type)


def test_runtime_evidence_from_env_and_os_packages():
    runtimes = find_runtimes(env_image("GOLANG_VERSION=1.21.5", "JAVA_VERSION=jdk-17.0.9+9", "LANG=C.UTF-8"),
                             [pkg("libpython3.11-stdlib", "3.11.2-6"), pkg("nodejs", "18.19.0-r0", "apk"),
                              pkg("openjdk-17-jre-headless", "17.0.9+9-1~deb12u1"), pkg("php81", "8.1.2", "apk"),
                              pkg("ruby3.1", "3.1.2-7"), pkg("python3", "3.9.18-1.el9", "rpm"),
                              pkg("flask", "2.0.0", "pypi")])
    found = {(r.name, r.version) for r in runtimes}
    assert found == {("go", "1.21.5"), ("java", "jdk-17.0.9+9"), ("python", "3.11.2"), ("node", "18.19.0"),
                     ("java", "17.0.9"), ("ruby", "3.1.2"), ("python", "3.9.18")}


def test_cycle_lookup_and_states_from_the_data(eol_store, corpus: Path):
    today = dt.date.today()
    assert cycle_for("3.6.15", eol_store.eol_cycles("python")).cycle == "3.6"
    assert cycle_for("v14.21.3", eol_store.eol_cycles("nodejs")).cycle == "14"
    assert cycle_for("1.21.5", eol_store.eol_cycles("go")).cycle == "1.21"
    assert cycle_for("banana", eol_store.eol_cycles("python")) is None
    entries = runtime_entries(find_runtimes(env_image("PYTHON_VERSION=3.6.15", "RUBY_VERSION=2.7.8"), []),
                              eol_store, today)
    by_name = {e.name: e for e in entries}
    for name, product, cycle in (("python", "python", "3.6"), ("ruby", "ruby", "2.7")):
        ended, date = expected_eol(corpus, product, cycle, False)
        assert by_name[name].cycle == cycle and by_name[name].is_eol is ended and by_name[name].eol == date


def test_debian_lts_is_the_extended_state(eol_store, corpus: Path):
    # the day after Debian 10's regular security support ended, LTS still ran
    ended_regular, regular = expected_eol(corpus, "debian", "10", False)
    _, lts = expected_eol(corpus, "debian", "10", True)
    day = dt.date.fromisoformat(regular) + dt.timedelta(days=1)
    assert day.isoformat() < lts
    entry = os_entry(OSInfo("debian", "10.13"), eol_store, day)
    assert entry is not None and (entry.state, entry.eol, entry.extended) == ("extended", regular, lts)
    after = os_entry(OSInfo("debian", "10.13"), eol_store, dt.date.fromisoformat(lts) + dt.timedelta(days=1))
    assert after is not None and after.state == "eol"


@pytest.mark.parametrize("env", [["PYTHON_VERSION="], ["NODE_VERSION=\x1b[31mred"], ["PHP_VERSION=" + "9" * 500],
                                 ["JAVA_VERSION"], [7, None, {"x": 1}]])
def test_garbage_env_gives_unknown_or_nothing(eol_store, env: list):
    config = {"config": {"Env": env}}
    image = ImageMeta(config_json=json.dumps(config))
    entries = runtime_entries(find_runtimes(image, []), eol_store, dt.date.today())
    assert all(e.state == "unknown" and len(e.version) <= 64 for e in entries)


@pytest.mark.parametrize("config", ["", "{", "[]", '{"config": []}', '{"config": {"Env": "PYTHON_VERSION=3"}}',
                                    "[" * 100_000])
def test_malformed_configs_give_no_runtimes(config: str):
    assert find_runtimes(ImageMeta(config_json=config), []) == ()


# ---- attested / verified digests --------------------------------------------------------------

class ListIndex:
    """The base-image index as rows in a list (the IndexLookup the database answers)."""

    def __init__(self, rows: list) -> None:
        self.rows = rows

    def index_hits(self, chain_ids) -> list:
        wanted = set(chain_ids)
        return [e for e in self.rows if e.chain_id in wanted]

    def index_entries(self, repo: str = "") -> list:
        return [e for e in self.rows if not repo or e.repo == repo]


def _row(repo: str, tag: str, digest: str, chain_id: str, layers: int = 1):
    from layerscan.db.records import IndexEntry

    return IndexEntry(chain_id, layers, repo, tag, digest, digest, "", "2026-01-01T00:00:00Z",
                      "2026-01-01T00:00:00Z")


def test_multi_stage_provenance_names_the_material_whose_layers_match():
    from layerscan.source.attestation import Material, Provenance

    image = meta()
    builder, base = "sha256:" + "01" * 32, "sha256:" + "02" * 32
    index = ListIndex([_row("golang", "1.22", builder, "sha256:" + "99" * 32),
                       _row("debian", "12", base, image.diff_ids[0])])
    provenance = Provenance("sha256:" + "03" * 32, "https://slsa.dev/provenance/v0.2",
                            (Material("pkg:docker/docker/dockerfile@1", "sha256:" + "04" * 32, "docker/dockerfile"),
                             Material("pkg:docker/golang@1.22", builder, "golang", "1.22"),
                             Material("pkg:docker/debian@12", base, "debian", "12")))
    found = identify_base(image, index=index, provenance=provenance)
    assert (found.level, found.name, found.tag, found.digest, found.layers) == ("attested", "debian", "12", base, 1)
    assert not found.warnings  # the builder stage's image is not a lie
    # the final base unknown to the index: the builder is not taken, the frontend never
    unknown = Provenance(provenance.attestation, provenance.predicate_type,
                         provenance.materials[:2] + (Material("pkg:docker/app-base@2", DIGEST, "app-base", "2"),))
    found = identify_base(image, index=index, provenance=unknown)
    assert (found.level, found.name, found.digest) == ("attested", "app-base", DIGEST)
    assert found.evidence.startswith("attested, not verified") and not found.warnings


def test_declared_digest_known_to_the_index_must_match_the_layers():
    image = meta(annotations={BASE_NAME_LABEL: "debian:12", BASE_DIGEST_LABEL: DIGEST})
    good = identify_base(image, index=ListIndex([_row("debian", "12", DIGEST, image.diff_ids[0])]))
    assert (good.level, good.layers, good.boundary) == ("declared", 1, "verified chain ID")
    lie = identify_base(image, index=ListIndex([_row("debian", "12", DIGEST, "sha256:" + "77" * 32)]))
    assert lie.level == "heuristic" and "does not match the image's layers" in lie.warnings[0]
    unknown = identify_base(image, index=ListIndex([]))
    assert (unknown.level, unknown.evidence) == ("declared", "manifest annotation")
