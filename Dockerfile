# layerscan's own image: a virtual environment built on Debian 12's Python, copied onto
# distroless python3 (no shell, no package manager), running as nonroot.
#
#   docker build -t layerscan .                        # runtime: ENTRYPOINT layerscan
#   docker build --target debug -t layerscan:debug .   # + busybox sh, for GitLab `script:`
#
# Pin the base images by digest when you build a release (DEBIAN=debian:12-slim@sha256:...).
# tests/test_container_image.py builds this recipe without a Docker engine (Debian's .debs
# and umoci), scans the result with layerscan itself and runs layerscan inside it.
ARG DEBIAN=debian:12-slim
ARG DISTROLESS=gcr.io/distroless/python3-debian12

FROM ${DEBIAN} AS builder
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN python3 -m venv /opt/layerscan && /opt/layerscan/bin/pip install --no-cache-dir "/src[fast]" && /opt/layerscan/bin/pip uninstall -y pip setuptools

FROM ${DISTROLESS}:nonroot AS runtime
COPY --from=builder /opt/layerscan /opt/layerscan
ENV PATH=/opt/layerscan/bin:/usr/local/bin:/usr/bin:/bin
USER 65532:65532
ENTRYPOINT ["/opt/layerscan/bin/layerscan"]

FROM ${DISTROLESS}:debug-nonroot AS debug
COPY --from=builder /opt/layerscan /opt/layerscan
ENV PATH=/opt/layerscan/bin:/busybox:/usr/local/bin:/usr/bin:/bin
USER 65532:65532
ENTRYPOINT ["/busybox/sh"]
