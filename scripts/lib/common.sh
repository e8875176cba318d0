# Shared helpers of the scripts/ commands. Source it; it defines functions only.

# The repository root.
repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[1;33m!!! %s\033[0m\n' "$*" >&2; }
die() { printf '\033[1;31mxxx %s\033[0m\n' "$*" >&2; exit 1; }

# ensure_venv NAME PIP_SPEC... : a project-local virtualenv under .venv/NAME with the given packages.
# Installs once; later calls reuse it. Prints the venv path.
ensure_venv() {
  local name=$1; shift
  local venv; venv="$(repo_root)/.venv/$name"
  local stamp="$venv/.installed-$(printf '%s ' "$@" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "installing $* into .venv/$name (once)"
    python3 -m venv "$venv" >&2 || die "python3 -m venv failed: install Python 3 with the venv module"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2 || die "pip install $* failed"
    touch "$stamp"
  fi
  printf '%s\n' "$venv"
}

# free_port : an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS : waits until URL answers.
wait_http() {
  local url=$1 deadline=$((SECONDS + ${2:-30}))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}
