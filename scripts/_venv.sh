# Sourced by scripts/demo and scripts/test: create .venv (once) and install Symphony into it.
# $1: the extras to install, e.g. "test" (empty for none).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SYMPHONY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
extras="${1:-}"
target="$ROOT"
[ -n "$extras" ] && target="$ROOT[$extras]"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"
export PATH="$VENV/bin:$PATH"
