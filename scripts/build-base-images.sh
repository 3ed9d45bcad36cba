#!/usr/bin/env bash
# Builds NDX's two base images from Debian's packages, for machines that cannot pull from an image registry:
#   ndx-base/node:24-bookworm      Debian 12 (minbase) + Node.js 24 and npm from the npm registry, user `node` (1000)
#   ndx-base/postgres:15-bookworm  Debian 12 (minbase) + Debian's PostgreSQL 15, user `postgres`
# Both carry this machine's CA bundle (/etc/ssl/certs/ca-certificates.crt), so npm inside a build trusts the
# same registry TLS the host does. Images already present are reused (a second run takes a second);
# --force rebuilds them. Needs root (debootstrap), a running Docker engine, debootstrap and npm.
#
# Environment: NDX_NODE_BASE_IMAGE, NDX_POSTGRES_IMAGE (the image names), NDX_DEBIAN_MIRROR
# (default http://deb.debian.org/debian), NDX_BASE_NODE_VERSION (default 24), NDX_CA_BUNDLE.
set -euo pipefail
cd "$(dirname "$0")/.."

node_image="${NDX_NODE_BASE_IMAGE:-ndx-base/node:24-bookworm}"
postgres_image="${NDX_POSTGRES_IMAGE:-ndx-base/postgres:15-bookworm}"
debian_image="ndx-base/debian:bookworm"
mirror="${NDX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
node_version="${NDX_BASE_NODE_VERSION:-24}"
ca_bundle="${NDX_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-base-images: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

say() { echo "base-images: $*"; }
die() { echo "base-images: $*" >&2; exit 1; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }
# Every step is bounded: a hung mirror or registry fails the build instead of stalling it.
bounded() { local seconds="$1"; shift; timeout --kill-after=10 "$seconds" "$@"; }
# docker build -q prints the image id, and the legacy builder's deprecation notice, which is all noise here.
build() { bounded 900 docker build -q "$@" 2> >(grep -v -E 'DEPRECATED|legacy builder|buildx|^\s*$' >&2) >/dev/null; }

docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd, or run ./.ci/run which starts one)"

if [ "$force" -eq 0 ] && have_image "$node_image" && have_image "$postgres_image"; then
  say "reusing $node_image and $postgres_image (--force rebuilds them)"
  exit 0
fi

[ -r "$ca_bundle" ] || die "no CA bundle at $ca_bundle (set NDX_CA_BUNDLE)"
command -v npm >/dev/null 2>&1 || die "npm is needed to fetch Node.js $node_version from the npm registry"
work="$(mktemp -d /tmp/ndx-base-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# 1. Debian 12 minbase, imported as an image (about a minute on two cores).
if [ "$force" -eq 1 ] || ! have_image "$debian_image"; then
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root (sudo $0)"
  if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and there is no apt-get to install it"
    say "installing debootstrap"
    bounded 300 apt-get -o DPkg::Lock::Timeout=240 install -y -qq debootstrap >/dev/null
  fi
  started=$SECONDS
  say "debootstrap --variant=minbase bookworm from $mirror"
  bounded 900 debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
  }
  # Smaller image: no package cache, docs, man pages or locales beyond C.UTF-8.
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
    "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/*
  echo "deb $mirror bookworm main" >"$work/rootfs/etc/apt/sources.list"
  # Docker manages these files; the host's would leak into the image.
  : >"$work/rootfs/etc/hostname"
  : >"$work/rootfs/etc/resolv.conf"
  tar -C "$work/rootfs" -c . | bounded 300 docker import \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$debian_image" >/dev/null
  rm -rf "$work/rootfs"
  say "built $debian_image in $((SECONDS - started)) s"
fi

# 2. Node.js 24 and npm: the npm registry's node-linux-<arch> package is the official binary (as .tools/node24).
if [ "$force" -eq 1 ] || ! have_image "$node_image"; then
  started=$SECONDS
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) die "no Node.js package for $(uname -m)" ;;
  esac
  mkdir -p "$work/node/pkgs"
  echo '{"private":true}' >"$work/node/pkgs/package.json"
  say "fetching node-linux-$arch@$node_version and npm from the npm registry"
  (cd "$work/node/pkgs" && bounded 600 npm install --no-audit --no-fund --loglevel=error --ignore-scripts \
    "node-linux-$arch@$node_version" "npm@11" >/dev/null) || die "could not fetch Node.js from the npm registry"
  cp "$work/node/pkgs/node_modules/node-linux-$arch/bin/node" "$work/node/node"
  cp -r "$work/node/pkgs/node_modules/npm" "$work/node/npm"
  rm -rf "$work/node/pkgs"
  cp "$ca_bundle" "$work/node/ca-certificates.crt"
  cat >"$work/node/Dockerfile" <<EOF
FROM $debian_image
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt NODE_VERSION=$node_version
CMD ["node"]
EOF
  build -t "$node_image" "$work/node" || die "building $node_image failed"
  say "built $node_image ($(docker run --rm "$node_image" node --version)) in $((SECONDS - started)) s"
fi

# 3. PostgreSQL from Debian's apt, binaries on PATH; deploy/postgres/entrypoint.sh initialises and provisions it.
if [ "$force" -eq 1 ] || ! have_image "$postgres_image"; then
  started=$SECONDS
  mkdir -p "$work/postgres"
  cp "$ca_bundle" "$work/postgres/ca-certificates.crt"
  cat >"$work/postgres/Dockerfile" <<EOF
FROM $debian_image
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# No cluster at install time: the entrypoint creates one in PGDATA on first start.
RUN mkdir -p /etc/postgresql-common/createcluster.d \\
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/ndx.conf \\
 && apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /usr/share/doc/* /usr/share/man/* \\
 && ln -s /usr/lib/postgresql/15/bin/* /usr/local/bin/ \\
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \\
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql && chmod 700 /var/lib/postgresql/data
ENV PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
CMD ["postgres"]
EOF
  build -t "$postgres_image" "$work/postgres" || die "building $postgres_image failed"
  say "built $postgres_image in $((SECONDS - started)) s"
fi
say "ready: NODE_BASE=$node_image POSTGRES_IMAGE=$postgres_image"
