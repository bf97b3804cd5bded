#!/usr/bin/env bash
# HALO's set-up and entry point. Idempotent: the first call installs, later calls reuse.
#
#   bash dev.sh demo     # set up, then run the offline learning demo (MiniWoB++: train vs held-out seeds)
#   bash dev.sh test     # set up, then run the whole test suite (fast and slow tests)
#   bash dev.sh test -m "not slow"   # only the fast tests
#   bash dev.sh halo ... # any halo command inside the project environment
#   bash dev.sh setup    # only set up (the versions in requirements.lock)
#   bash dev.sh upgrade  # re-resolve to the newest versions; rewrite requirements.lock if the fast tests pass
set -euo pipefail
cd "$(dirname "$0")"
VENV=${HALO_VENV:-.venv}
PY=${HALO_PYTHON:-}
# The versions the suite last passed with. Set-up installs exactly these (pip constraints);
# `bash dev.sh upgrade` rewrites the file. HALO_LOCK=none installs the newest versions the
# packages' own ranges allow instead.
LOCK=${HALO_LOCK:-requirements.lock}

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

plugin_specs() {
  "$VENV/bin/python" - <<'PY'
import pathlib
import re
try:
    import tomllib
except ImportError:  # Python 3.10: the extras' names are read off their table's lines
    tomllib = None


def extras(text):
    if tomllib:
        return sorted(tomllib.loads(text).get("project", {}).get("optional-dependencies", {}))
    table = text.partition("[project.optional-dependencies]")[2].split("\n[", 1)[0]
    return sorted(re.findall(r"^([A-Za-z0-9_.-]+)\s*=", table, re.M))


for p in sorted(pathlib.Path("plugins").glob("*/pyproject.toml")):
    names = extras(p.read_text())  # every extra: agisdk is one (halo_plugin_real[agisdk])
    print(f"{p.parent}[{','.join(names)}]" if names else str(p.parent))
PY
}

# What is installed in $VENV as a lock: every distribution but the editable HALO packages,
# pinned; torch without its local build label (2.13.0+cpu -> 2.13.0), which pip matches.
freeze_lock() {
  {
    echo "# HALO's locked dependencies: the versions the test suite last passed with."
    echo "# Written by 'bash dev.sh upgrade' (pip's resolver in a fresh venv, then pip freeze); read by"
    echo "# 'bash dev.sh setup' as pip constraints. Library users are not pinned: each pyproject.toml keeps ranges."
    "$VENV/bin/python" -m pip freeze --exclude-editable --all | grep -vE '^(pip|setuptools|wheel)==' \
      | sed -E 's/^([A-Za-z0-9_.-]+==[^+ ]+)\+[A-Za-z0-9.]+$/\1/' | LC_ALL=C sort -f
  }
}

upgrade() {
  # a fresh venv resolved to the newest allowed versions; the lock changes only if the fast tests pass there
  local target=$LOCK
  [ "$target" != none ] || target=requirements.lock
  local fresh=${HALO_UPGRADE_VENV:-.venv-upgrade}
  rm -rf "$fresh"
  log "resolving the newest versions into $fresh"
  VENV=$fresh LOCK=none setup
  log "running the fast tests on them"
  if ! VENV=$fresh "$fresh/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider; then
    log "the fast tests fail on the newest versions: $target is unchanged (see above; $fresh is kept)"
    exit 1
  fi
  VENV=$fresh freeze_lock > "$target.new"
  mv "$target.new" "$target"
  log "wrote $target ($(grep -c '==' "$target") pins); the next 'bash dev.sh setup' installs them"
}

setup() {
  local python; python=$(find_python)
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $python"
    "$python" -m venv "$VENV"
  fi
  local stamp="$VENV/.halo-installed"
  local pins=()
  if [ "$LOCK" != none ]; then
    [ -f "$LOCK" ] || { echo "error: lock file $LOCK not found (HALO_LOCK=none installs unpinned)" >&2; exit 1; }
    pins=(-c "$LOCK")
  fi
  local want; want=$(cat pyproject.toml plugins/*/pyproject.toml "${pins[@]:1}" 2>/dev/null | sha256sum | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing HALO and its plugins into $VENV (${pins[*]:-unpinned}; first run takes a few minutes)"
    "$VENV/bin/python" -m pip install -q "${pins[@]}" --upgrade pip >/dev/null
    # torch first, pinned, so nothing below pulls a different (CUDA) build
    "$VENV/bin/python" -m pip install -q "${pins[@]}" "${HALO_TORCH_SPEC:-torch==2.13.0}"
    # the core and every plugin folder, editable, each with all of its extras (test deps included)
    local args=(-e ".[test,grid]")
    while IFS= read -r spec; do args+=(-e "$spec"); done < <(plugin_specs)
    "$VENV/bin/python" -m pip install -q "${pins[@]}" "${args[@]}"
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
  upgrade) upgrade ;;
  lock) freeze_lock ;;
  demo) setup; exec "$VENV/bin/halo" demo "$@" ;;
  test)
    setup
    set +e
    # --durations: the slowest tests close every run's log, where a slow one is seen
    "$VENV/bin/python" -m pytest -m "slow or not slow" --durations=15 "$@"
    rc=$?
    [ $rc -eq 5 ] && { echo "no tests collected" >&2; exit 1; }
    exit $rc ;;
  halo) setup; exec "$VENV/bin/halo" "$@" ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
