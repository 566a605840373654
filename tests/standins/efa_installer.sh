#!/bin/sh
# Stand-in for AWS's efa_installer.sh @VERSION@ (the lab cannot reach AWS's download site, and has no EFA
# device): installs libfabric's fi_info (a stand-in that reports the node's EFA "hardware") and records the
# version in /opt/amazon/efa_installed_packages, as the real installer does.
set -e
[ "${1:-}" = "--yes" ] || { echo "usage: efa_installer.sh --yes" >&2; exit 1; }
mkdir -p /opt/amazon/efa/bin
cp "$(dirname "$0")/fi_info" /opt/amazon/efa/bin/fi_info
chmod 0755 /opt/amazon/efa/bin/fi_info
printf '# EFA installer version: @VERSION@\n# Debug packages installed: no\n# Packages installed:\n' \
    >/opt/amazon/efa_installed_packages
