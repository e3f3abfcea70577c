#!/usr/bin/env bash
# Set up Moebius Studio for development: a virtual environment in .venv at the repository root with the
# project installed in editable mode plus its dev tools. Safe to run again: when pyproject.toml has not
# changed since the last successful run it only checks a stamp file and returns.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venv="$repo/.venv"
stamp="$venv/.moebius-studio-setup"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

is_311_or_newer() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

if [ ! -e "$venv/bin/python" ]; then
  python=""
  for candidate in ${PYTHON:-} python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && is_311_or_newer "$candidate"; then
      python="$candidate"
      break
    fi
  done
  [ -n "$python" ] || die "Python 3.11 or newer is needed (tried python3.11 and python3; or set PYTHON=...)."
  say "creating .venv with $("$python" --version 2>&1)"
  if ! "$python" -m venv "$venv"; then
    rm -rf "$venv"  # half-made by the failed command above
    die "could not create .venv (on Debian/Ubuntu: apt-get install python3-venv, or python3.11-venv)."
  fi
fi
py="$venv/bin/python"
is_311_or_newer "$py" || die "$venv does not run Python 3.11 or newer; remove it and run this script again."

# The stamp records what the last successful install was made from: pyproject.toml and the Python version.
wanted="$("$py" -c 'import hashlib, sys
print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), sys.version.split()[0])')"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$venv/bin/moebius-inpaint" ]; then
  say ".venv is up to date"
  exit 0
fi

say "upgrading pip"
"$py" -m pip install --quiet --upgrade pip

if torch_version="$("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null)"; then
  say "keeping the installed torch $torch_version"
else
  # TORCH_INDEX_URL picks a torch wheel index, e.g. PyTorch's CPU-only or CUDA index (see README.md).
  say "installing torch 2.13.0 (GPU users: see README.md, 'GPU installation')"
  "$py" -m pip install --quiet "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi

say "installing moebius-studio (editable) with its dev tools"
"$py" -m pip install --quiet -e ".[dev]"

printf '%s\n' "$wanted" > "$stamp"
say "done: activate with '. .venv/bin/activate'"
