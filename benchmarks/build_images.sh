#!/usr/bin/env bash
# Build the benchmark images without a Docker engine (debootstrap + umoci + skopeo).
#   small: debootstrap minbase bookworm (~90 debs), 1 layer + an app layer
#   large: small + `apt-get install build-essential git perl python3 ...` (with recommends, ~450 debs)
# Output: benchmarks/work/{small,large}.oci (OCI dir, gzip layers), {small,large}.docker.tar
set -euo pipefail
cd "$(dirname "$0")"
W=${W:-work}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$W"

base_rootfs="$W/rootfs-base"
if [ ! -e "$base_rootfs/.done" ]; then
  rm -rf "$base_rootfs"
  debootstrap --variant=minbase bookworm "$base_rootfs" "$MIRROR"
  touch "$base_rootfs/.done"
fi

# repack LAYOUT TAG_FROM TAG_TO CREATED_BY CMD...: unpack, run CMD with $R = rootfs, repack
step() {
  local layout=$1 from=$2 to=$3 created=$4; shift 4
  local bundle="$W/bundle-$to"
  rm -rf "$bundle"
  umoci unpack --image "$layout:$from" "$bundle" >/dev/null
  R="$bundle/rootfs" "$@"
  umoci repack --image "$layout:$to" --history.created_by "$created" "$bundle" >/dev/null
  rm -rf "$bundle"
}

copy_base() { rm -rf "$R"; mkdir -p "$R"; cp -a "$base_rootfs/." "$R/"; rm -f "$R/.done"; }
in_chroot() {
  cp /etc/resolv.conf "$R/etc/resolv.conf"
  mount -t proc proc "$R/proc" || true
  chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -c "$CHROOT_CMD"
  umount "$R/proc" || true
  rm -rf "$R/var/lib/apt/lists/"* "$R/var/cache/apt/"*.bin
}
apt_big() { CHROOT_CMD="apt-get update -qq && apt-get install -y -qq build-essential git perl python3 python3-pip python3-venv python3-dev curl ca-certificates openssl libssl-dev zlib1g-dev libffi-dev libxml2-dev libxslt1-dev libjpeg-dev libpq-dev gnupg wget xz-utils bzip2 unzip procps less vim-tiny openssh-client rsync cmake imagemagick libgtk-3-0 >/dev/null && apt-get clean" in_chroot; }
app_layer() { mkdir -p "$R/app"; printf 'print("hello")\n' > "$R/app/main.py"; }

build() {
  local name=$1 layout="$W/$1.build.oci"
  rm -rf "$layout"
  umoci init --layout "$layout"
  umoci new --image "$layout:empty"
  step "$layout" empty base "debootstrap --variant=minbase bookworm" copy_base
  if [ "$name" = large ]; then
    step "$layout" base tools "RUN apt-get install -y build-essential git perl python3 ..." apt_big
    step "$layout" tools latest "COPY app /app" app_layer
  else
    step "$layout" base latest "COPY app /app" app_layer
  fi
  # a clean layout holding only the final image (Syft refuses layouts with several manifests)
  rm -rf "$W/$name.oci" "$W/$name.docker.tar"
  skopeo copy -q "oci:$layout:latest" "oci:$W/$name.oci:latest"
  skopeo copy -q "oci:$layout:latest" "docker-archive:$W/$name.docker.tar:bench/$name:latest"
}

build "${1:-small}"
[ $# -gt 0 ] || build large
ls -la "$W"
