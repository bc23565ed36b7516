# Source this file: it creates (once) and activates the project's virtual environment.
#
# The venv is built from requirements.lock (exact versions and hashes; `bash .ci/lock.sh` makes it
# from the ranges in requirements.txt), so every machine installs the same packages. It is large
# (torch is ~5.5 GB), so it lives outside the clone, keyed by a hash of the lock and the Python
# version: a fresh machine builds it with this same script, later runs reuse it. Set SEITPP_VENV to
# put it somewhere else.
set -euo pipefail
_seitpp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_seitpp_python="$(python3 -c 'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}-{platform.system()}-{platform.machine()}")')"
_seitpp_key="$( (cat "$_seitpp_root/requirements.lock"; echo "$_seitpp_python") | sha256sum | cut -c1-16)"
SEITPP_VENV="${SEITPP_VENV:-$HOME/.cache/seitpp/venv-$_seitpp_key}"
if [ ! -f "$SEITPP_VENV/.complete" ]; then
    echo "[seitpp] building virtual environment in $SEITPP_VENV (once per lock change)"
    rm -rf "$SEITPP_VENV"
    python3 -m venv "$SEITPP_VENV"
    _seitpp_log="$(mktemp)"
    if [ "$_seitpp_python" = "3.11-Linux-x86_64" ]; then
        # the lock was resolved there: install exactly it, every file checked against its hash
        _seitpp_install=(--require-hashes --no-deps -r "$_seitpp_root/requirements.lock")
    else
        echo "[seitpp] requirements.lock is for Python 3.11 on Linux x86-64, not $_seitpp_python: installing the ranges of requirements.txt" >&2
        _seitpp_install=(-r "$_seitpp_root/requirements.txt")
    fi
    if ! "$SEITPP_VENV/bin/python" -m pip install "${_seitpp_install[@]}" >"$_seitpp_log" 2>&1 \
            || ! "$SEITPP_VENV/bin/python" -m pip check >>"$_seitpp_log" 2>&1; then
        tail -n 40 "$_seitpp_log"
        exit 1
    fi
    rm -f "$_seitpp_log"
    touch "$SEITPP_VENV/.complete"
fi
# shellcheck disable=SC1091
source "$SEITPP_VENV/bin/activate"
# The package itself is installed editable from whichever clone sourced this file.
_seitpp_log="$(mktemp)"
if ! python -m pip install --no-deps --no-build-isolation -e "$_seitpp_root" >"$_seitpp_log" 2>&1; then
    cat "$_seitpp_log"
    exit 1
fi
rm -f "$_seitpp_log"
python -m ipykernel install --sys-prefix --name python3 >/dev/null
