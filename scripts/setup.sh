#!/usr/bin/env bash
# Installs what Sequent needs on Debian 12 when it is missing: the system libraries it links (OpenBLAS,
# SQLite, libpq, libjpeg, libpng, zlib, libarchive, OpenSSL's libcrypto), PostgreSQL's server (the tests start a
# throwaway cluster with it: scripts/with-postgres.sh), pkg-config, and the Fashion-MNIST dataset
# package. Safe to run repeatedly.
set -euo pipefail

packages=(libopenblas-dev libsqlite3-dev postgresql libpq-dev libjpeg-dev libpng-dev zlib1g-dev libarchive-dev libssl-dev libhdf5-dev pkg-config dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: a Swift 6 toolchain must be on PATH (https://swift.org/install)" >&2; exit 1; }
echo "setup: system packages present; $(swift --version 2>/dev/null | head -n1)"
