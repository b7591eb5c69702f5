import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "eval" / "dev"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PFMT_HARDWARE") == "1":
        return
    skip = pytest.mark.skip(reason="hardware test: set PFMT_HARDWARE=1 on a Pi with the probe attached")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def pfmt_cmd():
    """Run the installed console script's entry point in-process-free: a real subprocess."""
    return [sys.executable, "-m", "device.cli"]
