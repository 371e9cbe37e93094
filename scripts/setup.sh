#!/bin/sh
# Installs what airlock's demo and test suite need on a Debian machine with Node.js >= 20.18:
# Debian packages (the real registry, skopeo for comparisons, htpasswd, openssl), then the npm
# dependencies from package-lock.json. Safe to run again; installs only what is missing.
set -eu
cd "$(dirname "$0")/.."

PKGS="docker-registry skopeo podman umoci zstd squashfs-tools squashfs-tools-ng siftool attr libcap2-bin ceph-mon ceph-osd radosgw ceph-common openssh-server openssh-client quota apache2-utils openssl ca-certificates zsh jq curl systemd"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "setup: installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  # The package enables a system registry on :5000; airlock's tests start their own on 127.0.0.1.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  fi
fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<18)) { console.error("setup: airlock needs Node.js >= 20.18, this is "+process.version); process.exit(1) }'
# npm ci refuses a lock file whose optional platform packages (biome's for other systems) the
# registry in use does not hold; npm install resolves the same versions without them.
if ! npm ci --no-audit --no-fund --loglevel=error 2>/dev/null; then
  echo "setup: npm ci refused the lock file; installing with npm install instead"
  npm install --no-audit --no-fund --loglevel=error
fi

# The tests run on the Node.js LTS the release ships (scripts/test.mjs), not on an older system Node:
# node-linux-<arch>@NODE_VERSION from the npm registry, cached in release/.cache.
if ! node scripts/lts-node.mjs >/dev/null; then
  echo "setup: could not fetch the release's Node.js LTS from the npm registry; npm test will use $(node --version)"
fi
