# Source this file: it creates (once) and activates the project's virtual environment.
#
# The venv is large (torch is ~5.5 GB), so it lives outside the clone, keyed by a hash of
# requirements.txt: a fresh machine builds it with this same script,
# later runs reuse it. Set SEITPP_VENV to put it somewhere else.
set -euo pipefail
_seitpp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_seitpp_key="$(sha256sum < "$_seitpp_root/requirements.txt" | cut -c1-16)"
SEITPP_VENV="${SEITPP_VENV:-$HOME/.cache/seitpp/venv-$_seitpp_key}"
if [ ! -f "$SEITPP_VENV/.complete" ]; then
    echo "[seitpp] building virtual environment in $SEITPP_VENV (once per requirements change)"
    rm -rf "$SEITPP_VENV"
    python3 -m venv "$SEITPP_VENV"
    "$SEITPP_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$SEITPP_VENV/bin/python" -m pip install --quiet -r "$_seitpp_root/requirements.txt"
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
