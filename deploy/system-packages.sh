#!/usr/bin/env bash
# Installs the Debian packages the integration tests drive for real: Chromium (the wallboard),
# Prometheus with promtool, Alertmanager, and docker-compose (v1, only to validate docker-compose.yml:
# no engine is needed). Does nothing when they are all present already.
set -euo pipefail
needed=()
command -v chromium >/dev/null || needed+=(chromium fonts-dejavu-core)
command -v promtool >/dev/null || needed+=(prometheus)
command -v prometheus-alertmanager >/dev/null || needed+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || needed+=(docker-compose)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${needed[*]} (run as root, or: sudo apt-get install ${needed[*]})" >&2
    exit 1
fi
echo "installing Debian packages: ${needed[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
