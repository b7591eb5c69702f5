"""The device's install: the systemd units verified by systemd-analyze (rendered as
scripts/install.sh renders them, against this checkout's pfmt), the scripts' syntax and their
refusals, and the footprint the device install promises (no developer tooling imported)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ("pfmt.service", "pfmt-gadget.service", "pfmt-console.service")
SCRIPTS = ("install.sh", "make-update.sh", "test-install-arm64.sh", "usb-gadget.sh")


def render(prefix: Path, into: Path) -> list[Path]:
    """The units as install.sh writes them, with ``prefix`` for @PREFIX@."""
    into.mkdir(parents=True, exist_ok=True)
    out = []
    for u in UNITS:
        p = into / u
        p.write_text((ROOT / "install" / u).read_text().replace("@PREFIX@", str(prefix)))
        out.append(p)
    return out


@pytest.fixture
def prefix(tmp_path) -> Path:
    pfx = tmp_path / "opt-pfmt"
    (pfx / "venv" / "bin").mkdir(parents=True)
    (pfx / "share").mkdir()
    pfmt = Path(sys.executable).with_name("pfmt")
    assert pfmt.exists(), "pfmt is installed beside the test's Python (bootstrap.sh)"
    (pfx / "venv" / "bin" / "pfmt").symlink_to(pfmt)
    shutil.copy(ROOT / "scripts" / "usb-gadget.sh", pfx / "share" / "usb-gadget.sh")
    return pfx


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (bootstrap.sh installs it where apt-get can)")
def test_units_verify_clean(prefix, tmp_path):
    units = render(prefix, tmp_path / "units")
    r = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=120)
    ours = [line for line in (r.stdout + r.stderr).splitlines() if "pfmt" in line]
    assert r.returncode == 0 and not ours, "\n".join(ours) or r.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_verify_catches_a_broken_unit(prefix, tmp_path):
    """The check above can fail: a misspelt key and a missing program are both reported."""
    (unit,) = [u for u in render(prefix, tmp_path / "units") if u.name == "pfmt.service"]
    unit.write_text(unit.read_text().replace("Restart=always", "Restart=alwayz\nWatchDogSec=60")
                    .replace(str(prefix), "/nonexistent"))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120)
    text = r.stdout + r.stderr
    assert r.returncode != 0 and "alwayz" in text and "WatchDogSec" in text and "/nonexistent" in text


def test_the_trainer_unit_is_what_the_issue_asks():
    u = (ROOT / "install" / "pfmt.service").read_text()
    for line in ("Type=notify", "WatchdogSec=60", "Restart=always", "User=pfmt", "SupplementaryGroups=gpio i2c",
                 "ExecStart=@PREFIX@/venv/bin/pfmt device", "PrivateNetwork=yes", "WantedBy=multi-user.target",
                 "ExecStopPost=@PREFIX@/venv/bin/pfmt device --off", "WatchdogSignal=SIGTERM"):
        assert line in u.splitlines(), line
    c = (ROOT / "install" / "pfmt-console.service").read_text()
    assert "BindsTo=dev-ttyGS0.device" in c and "--tty /dev/ttyGS0" in c


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse(script):
    r = subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.access(ROOT / "scripts" / script, os.X_OK)


def test_install_refuses_clearly():
    r = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh"), "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    r = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--offline" in r.stdout and "--rtc" in r.stdout
    if os.geteuid() != 0:
        r = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh")], capture_output=True, text=True)
        assert r.returncode == 1 and "run as root" in r.stderr
    r = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh"), "--wheels", "/nonexistent"],
                       capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 1 and ("no wheels in /nonexistent" in r.stderr or "run as root" in r.stderr)


def test_the_device_core_does_not_import_developer_tooling():
    """What `pfmt device`, `train`, `selftest` load: no scipy, no peers, no pytest, no matplotlib
    (the PNG plot is imported only by an export that asks for it)."""
    code = ("import sys; import device.cli.main as m; "
            "[m.command_module(c) for c in ('device', 'train', 'selftest', 'clock', 'serial', 'sessions')]; "
            "import device.appliance.loop, device.training.session; "
            "bad = sorted(n for n in ('scipy', 'neurokit2', 'biosppy', 'pytest', 'matplotlib', 'pandas') if n in sys.modules); "
            "print(','.join(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr
