"""systemd/: the unit's directives, `systemd-analyze verify`, the install script, the CSI drop-in."""
import collections
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

UNIT = os.path.join(ROOT, "systemd", "edgepose.service")
INSTALL = os.path.join(ROOT, "systemd", "install.sh")


def parse_unit(path):
    """{section: {key: [values]}} (keys repeat in unit files, so no configparser)."""
    out = collections.defaultdict(lambda: collections.defaultdict(list))
    section = None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out[section][key.strip()].append(value.strip())
    return out


def one(unit, section, key):
    values = unit[section][key]
    assert len(values) == 1, "%s.%s: %s" % (section, key, values)
    return values[0]


def test_unit_directives():
    u = parse_unit(UNIT)
    assert one(u, "Service", "Type") == "notify"
    assert int(one(u, "Service", "WatchdogSec")) >= 10
    assert one(u, "Service", "Restart") == "on-failure"
    assert int(one(u, "Unit", "StartLimitBurst")) >= 1 and int(one(u, "Unit", "StartLimitIntervalSec")) > 0
    assert one(u, "Service", "User") == "edgepose"
    assert "video" in one(u, "Service", "SupplementaryGroups").split()
    assert one(u, "Service", "NoNewPrivileges") == "yes"
    assert one(u, "Service", "ProtectSystem") == "strict"
    assert one(u, "Service", "ProtectHome") == "yes"
    assert one(u, "Service", "PrivateTmp") == "yes"
    assert "/var/lib/edgepose" in one(u, "Service", "ReadWritePaths").split()
    assert one(u, "Service", "DevicePolicy") == "closed"
    allowed = [v.split()[0] for v in u["Service"]["DeviceAllow"]]
    assert "char-video4linux" in allowed
    assert "/dev/nvmap" in allowed and any(a.startswith("char-nvhost") for a in allowed)
    assert "char-nvidia-frontend" in allowed and "char-nvidia-uvm" in allowed
    creds = [v.split(":")[0] for v in u["Service"]["LoadCredential"]]
    assert "http_token" in creds and "mqtt_password" in creds
    assert "-HUP" in one(u, "Service", "ExecReload")
    exec_start = one(u, "Service", "ExecStart")
    assert " serve --config /etc/edgepose/config.yaml" in exec_start
    assert one(u, "Install", "WantedBy") == "multi-user.target"


def test_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here")
    # verify insists that ExecStart exists: point it at this interpreter
    with open(UNIT, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("/opt/edgepose/venv/bin/edgepose serve", "%s -m edgepose serve" % sys.executable)
    copy = tmp_path / "edgepose.service"
    copy.write_text(text)
    r = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 and ("not been booted" in out or "Failed to initialize" in out):
        pytest.skip("systemd-analyze cannot run in this container: %s" % out.splitlines()[0])
    assert r.returncode == 0, out
    # unknown keys and bad values are only warnings for systemd: there must be none about our unit
    ours = [line for line in out.splitlines() if "edgepose.service" in line]
    assert not ours, "\n".join(ours)


def test_systemd_analyze_catches_a_typo(tmp_path):
    """The check above is meaningful: a misspelt key shows up."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here")
    copy = tmp_path / "edgepose.service"
    with open(UNIT, encoding="utf-8") as f:
        copy.write_text(f.read().replace("/opt/edgepose/venv/bin/edgepose serve", "%s -m edgepose serve"
                                         % sys.executable).replace("WatchdogSec=", "WatchdogSecs="))
    r = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert "WatchdogSecs" in r.stdout + r.stderr


def test_install_script_syntax_and_help():
    subprocess.run(["sh", "-n", INSTALL], check=True, timeout=30)
    r = subprocess.run(["sh", INSTALL, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--prefix" in r.stdout and "--csi" in r.stdout
    r = subprocess.run(["sh", INSTALL, "--bogus"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    with open(INSTALL, encoding="utf-8") as f:
        text = f.read()
    for needed in ("useradd --system", "--groups video", "/var/lib/edgepose", "config.example.yaml",
                   "edgepose config check", "systemctl daemon-reload", "edgepose build", "credentials"):
        assert needed in text, needed
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-s", "sh", INSTALL], check=True, timeout=60)


def test_csi_dropin_disables_private_tmp():
    u = parse_unit(os.path.join(ROOT, "systemd", "csi-camera.conf"))
    assert one(u, "Service", "PrivateTmp") == "no"


def test_unit_bounds_resources_and_hardening():
    u = parse_unit(UNIT)
    assert int(one(u, "Service", "LimitNOFILE")) >= 2048  # the soak held 2000 idle connections under it
    env = dict(v.split("=", 1) for v in u["Service"]["Environment"])
    assert env["MALLOC_ARENA_MAX"] == "2"
    assert one(u, "Service", "UMask") == "0077"
    assert u["Service"]["SystemCallFilter"] == ["@system-service", "~@privileged"]
    assert one(u, "Service", "SystemCallErrorNumber") == "EPERM"
    for key, value in (("ProtectProc", "invisible"), ("RemoveIPC", "yes"), ("PrivateMounts", "yes")):
        assert one(u, "Service", key) == value
    assert "ProcSubset" not in u["Service"] and "MemoryDenyWriteExecute" not in u["Service"]  # see the unit


def test_systemd_analyze_security_exposure(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here")
    r = subprocess.run([tool, "security", "--offline=true", UNIT], capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    if "Overall exposure level" not in out:
        pytest.skip("this systemd-analyze cannot score a unit file offline: %s" % out.strip()[:200])
    level = float(out.split("Overall exposure level for edgepose.service:")[1].split()[0])
    assert level <= 2.5, out[-2000:]
