#!/usr/bin/env bash
# HALO's set-up and entry point. Idempotent: the first call installs, later calls reuse.
#
#   bash dev.sh demo     # set up, then run the offline demo on the web clones
#   bash dev.sh test     # set up, then run the whole test suite (fast and slow tests)
#   bash dev.sh test -m "not slow"   # only the fast tests
#   bash dev.sh halo ... # any halo command inside the project environment
#   bash dev.sh setup    # only set up
set -euo pipefail
cd "$(dirname "$0")"
VENV=${HALO_VENV:-.venv}
PY=${HALO_PYTHON:-}

log() { printf '\033[1m[halo]\033[0m %s\n' "$*" >&2; }

find_python() {
  for c in "$PY" python3.11 python3.12 python3.10 python3; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  echo "error: Python 3.10+ is required (apt-get install -y python3 python3-venv)" >&2
  exit 1
}

ensure_chromium() {
  # Playwright's own browser wins when present; otherwise the system Chromium.
  if ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome >/dev/null 2>&1; then
    return 0
  fi
  for c in "${HALO_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
    [ -n "$c" ] && [ -x "$c" ] && return 0
  done
  if timeout 120 "$VENV/bin/python" -m playwright install chromium >/dev/null 2>&1; then
    return 0
  fi
  log "Playwright's browser download is unavailable; installing Debian's chromium"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: no Chromium found; run 'playwright install chromium' or install your distribution's chromium" >&2
    exit 1
  fi
}

setup() {
  local python; python=$(find_python)
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $python"
    "$python" -m venv "$VENV"
  fi
  local stamp="$VENV/.halo-installed"
  local want; want=$(cat pyproject.toml plugins/*/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing HALO and its plugins into $VENV (first run takes a few minutes)"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    # torch first, pinned, so nothing below pulls a different (CUDA) build
    "$VENV/bin/python" -m pip install -q "${HALO_TORCH_SPEC:-torch==2.13.0}"
    # the core and every plugin folder, editable, each with all of its extras (test deps included)
    local args=(-e ".[test]")
    while IFS= read -r spec; do args+=(-e "$spec"); done < <("$VENV/bin/python" - <<'PY'
import pathlib
try:
    import tomllib
except ImportError:  # Python 3.10: install without extras
    tomllib = None
for p in sorted(pathlib.Path("plugins").glob("*/pyproject.toml")):
    extras = sorted(tomllib.loads(p.read_text()).get("project", {}).get("optional-dependencies", {})) if tomllib else []
    print(f"{p.parent}[{','.join(extras)}]" if extras else str(p.parent))
PY
)
    "$VENV/bin/python" -m pip install -q "${args[@]}"
    echo "$want" > "$stamp"
  fi
  ensure_chromium
}

export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
export LITELLM_LOCAL_MODEL_COST_MAP=${LITELLM_LOCAL_MODEL_COST_MAP:-True}
export TOKENIZERS_PARALLELISM=false

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  demo) setup; exec "$VENV/bin/halo" demo "$@" ;;
  test)
    setup
    set +e
    "$VENV/bin/python" -m pytest -m "slow or not slow" "$@"
    rc=$?
    [ $rc -eq 5 ] && { echo "no tests collected" >&2; exit 1; }
    exit $rc ;;
  halo) setup; exec "$VENV/bin/halo" "$@" ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
