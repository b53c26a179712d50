# Sourced by scripts/demo and scripts/test: create .venv (once) and install Symphony into it.
# $1: the extras to install, e.g. "test" (empty for none).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SYMPHONY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

# Debian packages a fresh machine may lack: as root directly, else through sudo if there is one.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
    command -v apt-get >/dev/null || return 1
    echo "installing $* (Debian packages) ..."
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v "$PYTHON" >/dev/null; then
    apt_install python3 python3-venv || { echo "error: $PYTHON not found: install Python >= 3.10" >&2; exit 1; }
fi
if [ ! -x "$VENV/bin/python" ]; then
    # Debian's python3 makes virtual environments only with python3-venv (ensurepip) installed
    if ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
        apt_install python3-venv || {
            echo "error: $PYTHON cannot create a virtual environment: install python3-venv (apt-get install python3-venv)" >&2
            exit 1; }
    fi
    "$PYTHON" -m venv "$VENV"
fi
extras="${1:-}"
target="$ROOT"
[ -n "$extras" ] && target="$ROOT[$extras]"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"
export PATH="$VENV/bin:$PATH"
