#!/usr/bin/env bash
# Regenerate requirements.lock from requirements.txt: exact versions and sha256 hashes of everything
# the ranges admit, resolved for Linux x86-64 and the Python that runs this (3.11 on the project
# machines). Run it after editing requirements.txt, or to move to newer releases on purpose:
#     bash .ci/lock.sh
# .ci/venv.sh installs the lock with --require-hashes, so every machine builds the same venv.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet "pip-tools==7.7.0"
# Index and find-links options come from the machine's pip configuration and are not written into
# the lock: it names packages and hashes only, so it works against PyPI or a mirror alike.
"$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links --constraint .ci/lock-constraints.txt \
    --output-file requirements.lock requirements.txt
echo "[seitpp] wrote requirements.lock ($(grep -c '^[a-z]' requirements.lock) packages)"
