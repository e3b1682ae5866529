"""--exclude-base-layers: the base-image boundary guessed from real-shaped config histories
(legacy builder ``#(nop)`` steps, BuildKit steps, chained official images, ENTRYPOINT-only
bases, images without a base step), and the hostile cases.

Each history is built as ``base steps + the image's own steps``; the expected boundary is the
number of filesystem layers in the base steps, counted from the steps themselves."""

from __future__ import annotations

import json

import pytest
from fixtures.report.sample import SBOM
from imagebuild import sample_image

from layerscan.errors import UsageError
from layerscan.model import LayerInfo
from layerscan.model.image import ImageMeta
from layerscan.policy.baselayers import (BASE_DIGEST_LABEL, BASE_NAME_LABEL, AUTO, HistoryStep,
                                         guess_base_history_index, guess_boundary, history_steps,
                                         instruction, layers_before, parse_spec, resolve_boundary)


def step(created_by: str, empty: bool = False) -> dict:
    entry = {"created": "2024-01-01T00:00:00Z", "created_by": created_by}
    if empty:
        entry["empty_layer"] = True
    return entry


# Legacy builder (docker build before BuildKit), as in the official images' history.
DEBIAN_LEGACY = [step("/bin/sh -c #(nop) ADD file:6f1d3e4d5c6b7a8b9c0d1e2f3a4b5c6d7e8f9a0b in / "),
                 step('/bin/sh -c #(nop)  CMD ["bash"]', True)]
ALPINE_LEGACY = [step("/bin/sh -c #(nop) ADD file:1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f in / "),
                 step('/bin/sh -c #(nop)  CMD ["/bin/sh"]', True)]
# BuildKit official image on top of Debian (python:3.x-slim shape).
PYTHON_SLIM = DEBIAN_LEGACY + [
    step("ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", True),
    step("ENV LANG=C.UTF-8", True),
    step("RUN /bin/sh -c set -eux; apt-get update; apt-get install -y --no-install-recommends "
         "ca-certificates netbase tzdata; rm -rf /var/lib/apt/lists/* # buildkit"),
    step("ENV PYTHON_VERSION=3.11.9", True),
    step("RUN /bin/sh -c set -eux; savedAptMark=...; ./configure --enable-optimizations; make install # buildkit"),
    step("RUN /bin/sh -c set -eux; for src in idle3 pydoc3 python3 python3-config; do ln -svT $src x; done "
         "# buildkit"),
    step('CMD ["python3"]', True),
]
# nginx: the base ends with ENTRYPOINT, EXPOSE, STOPSIGNAL and CMD.
NGINX = DEBIAN_LEGACY + [
    step('LABEL maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>', True),
    step("ENV NGINX_VERSION=1.25.4", True),
    step("RUN /bin/sh -c set -x && groupadd --system nginx && apt-get install nginx # buildkit"),
    step("COPY docker-entrypoint.sh / # buildkit"),
    step('ENTRYPOINT ["/docker-entrypoint.sh"]', True),
    step("EXPOSE map[80/tcp:{}]", True),
    step("STOPSIGNAL SIGQUIT", True),
    step('CMD ["nginx" "-g" "daemon off;"]', True),
]
# A base that ends with ENTRYPOINT only (no CMD).
ENTRYPOINT_ONLY = ALPINE_LEGACY + [
    step("RUN /bin/sh -c apk add --no-cache tini # buildkit"),
    step('ENTRYPOINT ["/sbin/tini", "--"]', True),
]

APP_BUILDKIT = [
    step("WORKDIR /app", True),
    step("COPY requirements.txt . # buildkit"),
    step("RUN /bin/sh -c pip install --no-cache-dir -r requirements.txt # buildkit"),
    step("COPY . . # buildkit"),
    step("USER 10001", True),
    step("EXPOSE map[8000/tcp:{}]", True),
    step('CMD ["python3", "-m", "app"]', True),
]
APP_LEGACY = [
    step("/bin/sh -c apt-get update && apt-get install -y curl"),
    step("/bin/sh -c #(nop) COPY file:8a7b6c5d4e3f2a1b in /usr/local/bin/app "),
    step('/bin/sh -c #(nop)  ENTRYPOINT ["/usr/local/bin/app"]', True),
    step('/bin/sh -c #(nop)  CMD ["--help"]', True),
]
# A multi-stage build's final stage keeps only the final base's history.
APP_COPY_FROM_BUILDER = [
    step("COPY /out/server /server # buildkit"),
    step('ENTRYPOINT ["/server"]', True),
]

CASES = {
    "debian+legacy-app": (DEBIAN_LEGACY, APP_LEGACY),
    "debian+buildkit-app": (DEBIAN_LEGACY, APP_BUILDKIT),
    "python-slim+buildkit-app": (PYTHON_SLIM, APP_BUILDKIT),
    "nginx+config-layer": (NGINX, [step("COPY default.conf /etc/nginx/conf.d/ # buildkit")]),
    "alpine+multistage": (ALPINE_LEGACY, APP_COPY_FROM_BUILDER),
    "entrypoint-only-base": (ENTRYPOINT_ONLY, APP_BUILDKIT),
}


def layer_count(history: list[dict]) -> int:
    return sum(1 for h in history if not h.get("empty_layer"))


def image(history: list[dict], labels: dict[str, str] | None = None, layers: int | None = None) -> ImageMeta:
    count = layer_count(history) if layers is None else layers
    infos = tuple(LayerInfo(i, f"sha256:{i:064x}") for i in range(count))
    config = {"architecture": "amd64", "os": "linux", "history": history,
              "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in infos]}}
    return ImageMeta(diff_ids=tuple(x.diff_id for x in infos), layers=infos,
                     config_json=json.dumps(config), labels=tuple((labels or {}).items()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_guess_on_real_shaped_histories(name: str):
    base, app = CASES[name]
    boundary = resolve_boundary(AUTO, image(base + app))
    assert boundary.layers == layer_count(base), boundary
    assert not boundary.warning
    steps = history_steps(json.dumps({"history": base + app}))
    index = guess_base_history_index(steps)
    assert index < len(base) and steps[index].empty_layer
    assert instruction(steps[index].created_by) in ("CMD", "ENTRYPOINT")


def test_a_base_image_scanned_alone_has_no_boundary():
    # its own trailing CMD is skipped, as Trivy does: nothing is excluded, with a warning
    boundary = resolve_boundary(AUTO, image(DEBIAN_LEGACY))
    assert boundary.layers == 0 and "no empty CMD/ENTRYPOINT" in boundary.warning


@pytest.mark.parametrize("chained", [PYTHON_SLIM, NGINX], ids=["python-slim", "nginx"])
def test_a_chained_official_image_alone_has_its_own_base_as_boundary(chained: list[dict]):
    assert resolve_boundary(AUTO, image(chained)).layers == layer_count(DEBIAN_LEGACY)


def test_sample_image_and_report_fixture():
    built = sample_image()
    config = json.loads(built.config)
    steps = history_steps(built.config.decode())
    index = guess_base_history_index(steps)
    assert config["history"][index]["created_by"].endswith('CMD ["bash"]')
    assert layers_before(steps, index) == 1
    assert resolve_boundary(AUTO, SBOM.image).layers == 1


def test_labels_are_reported_and_explain_a_missing_boundary():
    labels = {BASE_NAME_LABEL: "docker.io/library/python:3.11-slim", BASE_DIGEST_LABEL: "sha256:" + "ab" * 32}
    history = [step("COPY app /app # buildkit"), step('CMD ["app"]', True)]
    boundary = resolve_boundary(AUTO, image(history, labels))
    assert boundary.layers == 0
    assert boundary.base_image == f"{labels[BASE_NAME_LABEL]}@{labels[BASE_DIGEST_LABEL]}"
    assert labels[BASE_NAME_LABEL] in boundary.warning
    found = resolve_boundary(AUTO, image(PYTHON_SLIM + APP_BUILDKIT, labels))
    assert found.layers == layer_count(PYTHON_SLIM) and found.base_image and not found.warning


def test_explicit_count_and_clamping():
    meta = image(DEBIAN_LEGACY + APP_LEGACY)
    assert resolve_boundary(1, meta).layers == 1
    assert resolve_boundary(50, meta).layers == layer_count(DEBIAN_LEGACY + APP_LEGACY)
    assert resolve_boundary(3, None).layers == 3  # an SBOM whose packages carry layer indexes
    assert resolve_boundary(None, meta).layers == 0


@pytest.mark.parametrize("value, expected", [("auto", AUTO), ("AUTO", AUTO), (" 2 ", 2), ("0", 0), (3, 3),
                                             ("", None), (None, None)])
def test_parse_spec(value, expected):
    assert parse_spec(value) == expected


@pytest.mark.parametrize("value", ["yes", "-1", "1.5", "1e3", "9" * 30, "auto,2", "٣"])
def test_parse_spec_rejects(value):
    with pytest.raises(UsageError):
        parse_spec(value)


@pytest.mark.parametrize("config", ["", "{", "[]", "null", '{"history": {}}', '{"history": [1, 2]}',
                                    "[" * 100_000])
def test_malformed_configs_give_no_guess(config: str):
    meta = ImageMeta(layers=(LayerInfo(0, "sha256:" + "0" * 64),), config_json=config)
    boundary = resolve_boundary(AUTO, meta)
    assert boundary.layers == 0 and boundary.warning


def test_history_not_matching_the_layers_is_not_trusted():
    boundary = resolve_boundary(AUTO, image(DEBIAN_LEGACY + APP_LEGACY, layers=5))
    assert boundary.layers == 0 and "does not list one step per layer" in boundary.warning


def test_hostile_history_values():
    history = [{"created_by": 7}, {"created_by": None, "empty_layer": "yes"},
               step("\x1b[2J CMD", True), step("RUN /bin/sh -c x")]
    steps = history_steps(json.dumps({"history": history}))
    assert [s.empty_layer for s in steps] == [False, False, True, False]
    assert guess_base_history_index(steps) == -1  # "\x1b[2J CMD" is not a CMD step
    assert guess_base_history_index([HistoryStep("CMD x", True)] * 3) == -1


@pytest.mark.parametrize("spec", [1, AUTO])
def test_an_unknown_layer_order_excludes_nothing(spec: int | str) -> None:
    """Any caller (not only `layerscan sbom`, which refuses first): no boundary from a guessed order."""
    from dataclasses import replace

    image = replace(SBOM.image, layer_order_known=False) if SBOM.image else ImageMeta(
        layers=(LayerInfo(0, "sha256:" + "a" * 64),), layer_order_known=False)
    boundary = resolve_boundary(spec, image)
    assert boundary.layers == 0 and "order" in boundary.warning
