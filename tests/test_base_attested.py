"""The ``attested`` level of the base-image ladder (a BuildKit provenance attestation in the
image index) and the verification of declared / attested base digests against the base-image
index, on a real ``docker-registry`` on 127.0.0.1 and on OCI layouts.

``att/debian`` tags 10 and 12 are built from real dpkg status files of the corpus and pushed;
the index is built from the registry (``layerscan index add``). The application image sits on
debian 12; its attestation manifest is written here per the BuildKit storage layout, the
in-toto statements per the in-toto Statement v0.1 / SLSA provenance v0.2 and v1 specs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from imagebuild import BuiltImage, build_attested_index, build_image, canonical_json, digest_of
from test_base_index import APP_LAYER, DEBIAN, cli, debian_layer, image

from layerscan.policy.baselayers import BASE_DIGEST_LABEL, BASE_NAME_LABEL
from test_cli_main import run_cli

UNKNOWN = "sha256:" + "ab" * 32
FRONTEND = "pkg:docker/docker/dockerfile@1"


def statement(app: BuiltImage, materials: list[tuple[str, str]], version: str = "v0.2") -> bytes:
    """An in-toto statement of SLSA provenance for ``app`` naming ``materials`` (uri, digest)."""
    deps = [{"uri": uri, "digest": {"sha256": digest.split(":")[1]}} for uri, digest in materials]
    if version == "v0.2":
        predicate: dict = {"builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1",
                           "materials": deps, "invocation": {"configSource": {"entryPoint": "Dockerfile"}}}
    else:
        predicate = {"buildDefinition": {"buildType": "https://mobyproject.org/buildkit@v1",
                                         "resolvedDependencies": deps},
                     "runDetails": {"builder": {"id": ""}}}
    return canonical_json({"_type": "https://in-toto.io/Statement/v0.1",
                           "predicateType": f"https://slsa.dev/provenance/{version}",
                           "subject": [{"name": "pkg:docker/app@1.0?platform=linux%2Famd64",
                                        "digest": {"sha256": app.manifest_digest.split(":")[1]}}],
                           "predicate": predicate})


class Setup:
    def __init__(self, corpus: Path, host: str, work: Path) -> None:
        self.corpus, self.host, self.work = corpus, host, work
        self.debian = {tag: image([debian_layer(corpus, tag)]) for tag in ("10", "12")}
        self.app = image([debian_layer(corpus, "12"), APP_LAYER])
        self.repo = f"{host}/att/debian"

    def material(self, tag: str) -> tuple[str, str]:
        return (f"pkg:docker/{self.repo}@{tag}?platform=linux%2Famd64", self.debian[tag].manifest_digest)

    def layout(self, name: str, statements: list[bytes], version: str = "v0.2") -> str:
        built = build_attested_index(self.app, statements, predicate_type=f"https://slsa.dev/provenance/{version}")
        built.write_oci_dir(self.work / name, "1.0")
        return name


@pytest.fixture(scope="module")
def setup(corpus: Path, registry, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    for tag in ("10", "12"):
        if not (corpus / DEBIAN[tag][0]).is_dir():
            pytest.skip(f"corpus {DEBIAN[tag][0]} is absent")
    s = Setup(corpus, registry.host, tmp_path_factory.mktemp("attested"))
    for tag, img in s.debian.items():
        img.push(registry.host, "att/debian", tag)
    cli(s.work, "index", "add", s.repo, "--insecure")
    return s


def base_of(work: Path, *target: str) -> tuple[dict, str]:
    out, err = cli(work, "quickview", *target, "--skip-db-update", "-f", "json")
    return json.loads(out)["BaseImage"], err


def test_attested_base_verified_in_the_index_from_registry_and_layout(setup: Setup):
    st = statement(setup.app, [(FRONTEND, UNKNOWN), setup.material("12")])
    pushed = build_attested_index(setup.app, [st]).push(setup.host, "att/app", "1.0")
    for target in (("--input", setup.layout("attested", [st])), (pushed, "--insecure")):
        base, _ = base_of(setup.work, *target)
        assert (base["Level"], base["Name"], base["Tag"]) == ("attested", setup.repo, "12"), target
        assert base["Reference"] == f"{setup.repo}:12@{setup.debian['12'].manifest_digest}"
        assert base["Layers"] == 1
        assert "SLSA v0.2 provenance" in base["Evidence"]
        assert "verified against the base index" in base["Evidence"]
    proc = run_cli("quickview", pushed, "--insecure", "--skip-db-update", cwd=setup.work)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "identified: attested" in proc.stdout
    assert f"{setup.repo}:12" in proc.stdout
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())


def test_slsa_v1_resolved_dependencies(setup: Setup):
    st = statement(setup.app, [setup.material("12")], version="v1")
    base, _ = base_of(setup.work, "--input", setup.layout("attested-v1", [st], version="v1"))
    assert (base["Level"], base["Tag"]) == ("attested", "12")
    assert "SLSA v1 provenance" in base["Evidence"]


def test_lying_attestation_warns_and_falls_to_the_next_level(setup: Setup):
    st = statement(setup.app, [setup.material("10")])  # the app is on 12
    base, err = base_of(setup.work, "--input", setup.layout("lying", [st]))
    assert f"attested base {setup.repo}:10@{setup.debian['10'].manifest_digest} does not match " \
           "the image's layers" in err
    assert (base["Level"], base["Tag"]) == ("matched", "12")
    assert base["Digest"] == setup.debian["12"].manifest_digest


def test_unknown_digest_is_attested_not_verified(setup: Setup):
    st = statement(setup.app, [(FRONTEND, "sha256:" + "cd" * 32),
                               ("pkg:docker/debian@trixie?platform=linux%2Famd64", UNKNOWN)])
    base, _ = base_of(setup.work, "--input", setup.layout("unverified", [st]))
    assert (base["Level"], base["Name"], base["Tag"], base["Digest"]) == ("attested", "debian", "trixie", UNKNOWN)
    assert "attested, not verified" in base["Evidence"]
    assert base["Layers"] is None  # not verified: the layers come from the history boundary (none here)


def test_declared_digest_is_verified_or_refused(setup: Setup):
    for name, tag, level in (("declared-true", "12", "declared"), ("declared-lie", "10", "matched")):
        annotations = {BASE_NAME_LABEL: f"{setup.repo}:{tag}", BASE_DIGEST_LABEL: setup.debian[tag].manifest_digest}
        layers = [debian_layer(setup.corpus, "12"), APP_LAYER]
        build_image(layers, empty_steps={2: ['CMD ["bash"]']}, annotations=annotations).write_oci_dir(
            setup.work / name, "1.0")
        base, err = base_of(setup.work, "--input", name)
        assert base["Level"] == level, (name, err)
        assert base["Tag"] == "12" and base["Layers"] == 1
        lie = f"declared base {setup.repo}:10@{setup.debian['10'].manifest_digest} (manifest annotation) " \
              "does not match the image's layers"
        assert (lie in err) == (tag == "10")
        if level == "declared":
            assert "verified against the base index" in base["Evidence"]


@pytest.mark.parametrize("case", ["huge", "deep", "not-json", "missing-blob", "missing-manifest", "wrong-subject"])
def test_hostile_attestation_is_ignored_with_a_warning(setup: Setup, case: str):
    good = statement(setup.app, [setup.material("12")])
    blob = {"huge": b" " * (8 * 1024 * 1024 + 1) + good, "deep": b"[" * 100000 + b"]" * 100000,
            "not-json": b"\xff\xfe not json {", "wrong-subject": good.replace(
                setup.app.manifest_digest.split(":")[1].encode(), b"ef" * 32)}.get(case, good)
    name = setup.layout(f"hostile-{case}", [blob])
    built = build_attested_index(setup.app, [blob])
    attestation = json.loads(built.index)["manifests"][1]["digest"]
    gone = {"missing-blob": blob, "missing-manifest": built.extra[attestation]}.get(case)
    if gone is not None:
        (setup.work / name / "blobs" / "sha256" / digest_of(gone).split(":")[1]).unlink()
    base, err = base_of(setup.work, "--input", name)
    assert "Traceback" not in err
    assert "attestation" in err and "ignored" in err, err
    assert (base["Level"], base["Tag"]) == ("matched", "12")
