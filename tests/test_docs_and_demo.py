"""The docstring examples run, and so do the demo and the command line."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import file_dataset
from file_dataset.cli import main

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(file_dataset.__path__, "file_dataset.")
    if m.name != "file_dataset.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    for name in file_dataset.__all__:
        obj = getattr(file_dataset, name)
        if name.startswith("__"):
            continue
        assert obj.__doc__, name
        assert "Example" in obj.__doc__, name


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "# Usage 1" in out
    assert "# Usage 2" in out
    assert "s3://demo-bucket/normalized/patient-000/normalized.csv" in out
    assert "s3://demo-bucket/summaries/patient-000/summary.txt" in out
    assert "demo-secret-key" not in out
    assert "Stopped the embedded S3 server" in out


def test_cli_help_and_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "file_dataset", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "demo" in proc.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "file_dataset", "nope"], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2
