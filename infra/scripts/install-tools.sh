#!/usr/bin/env bash
# Installs the offline validators of infra/, one Python virtual environment per tool.
#
# usage: install-tools.sh VENVS_DIR NAME...     (NAME = a file infra/requirements/NAME.txt)
#
# One shared environment makes pip resolve for minutes and downgrade the tools against each
# other, so each tool gets its own venv, VENVS_DIR/NAME. Each requirements file pins the whole
# set (a pip freeze), so the install runs with --no-deps and never resolves. A stamp written
# only after a successful install holds the requirements file's hash and the Python version:
# a second run does nothing, and a changed pin or Python reinstalls that one tool.
set -euo pipefail

venvs=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
pyver=$("$py" -c 'import sys; print(sys.version.split()[0])')

for name in "$@"; do
    req="$here/requirements/$name.txt"
    venv="$venvs/$name"
    stamp="$venv/.karcis-stamp"
    want="$(sha256sum "$req" | cut -d' ' -f1) python $pyver"
    if [[ -f $stamp && -x $venv/bin/python && "$(cat "$stamp")" == "$want" ]]; then
        continue
    fi
    echo "infra: installing $name into $venv"
    start=$SECONDS
    rm -rf "$venv"
    mkdir -p "$venvs"
    "$py" -m venv "$venv"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet --no-input --no-deps -r "$req"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" check >/dev/null
    printf '%s\n' "$want" >"$stamp"
    echo "infra: $name ready in $((SECONDS - start)) s"
done
