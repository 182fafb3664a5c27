#!/usr/bin/env bash
# Installs everything lbaas needs on a fresh Debian 12 machine, as root. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=(haproxy iproute2 nftables iputils-arping procps python3 python3-venv python3-pip wrk curl openssl chromium keepalived)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[test]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# The openstack.cloud modules the `ansible` package bundles need an openstacksdk before 4.15 (they read
# openstack.version); tests/clients/test_ansible.py gives them this one, the rest of the venv keeps its own.
if [ ! -d .venv/ansible-sdk/openstack ]; then
  .venv/bin/pip install -q --no-deps --target .venv/ansible-sdk 'openstacksdk>=4.6,<4.15'
fi
