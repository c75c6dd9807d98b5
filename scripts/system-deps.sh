#!/usr/bin/env bash
# Installs the system packages the test suite drives for real (bubblewrap for the
# evaluation sandbox, Chromium for browser tests, a compose tool to validate
# docker-compose.yml; wrk for `make bench`). Needs root (apt-get); tells you what
# to run otherwise.
set -euo pipefail
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v chromium >/dev/null || need+=(chromium)
command -v prlimit >/dev/null || need+=(util-linux)
command -v wrk >/dev/null || need+=(wrk)
# `docker compose config` validates docker-compose.yml; no engine is needed for that.
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  need+=(docker-compose)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
