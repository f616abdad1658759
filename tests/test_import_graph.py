"""Dependencies flow one way: cgap_ir (IR, errors) <- fpga_model (engine description, cost model, simulator,
DSE) <- cgap (training, passes, codegen, CLIs).  Each package's every module imports with the packages above it
blocked, so a cycle between packages fails here."""

from __future__ import annotations

import subprocess
import sys

import pytest

LAYERS = {"cgap_ir": ("fpga_model", "cgap"), "fpga_model": ("cgap",)}

_IMPORT_ALL = """
import importlib, pkgutil, sys
for blocked in {blocked!r}:
    sys.modules[blocked] = None          # `import blocked.x` now raises ImportError
package = importlib.import_module({package!r})
names = [m.name for m in pkgutil.walk_packages(package.__path__, {package!r} + ".")
         if not m.name.endswith("__main__")]   # running the CLI is not importing it
for name in names:
    importlib.import_module(name)
print(len(names))
"""


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_package_imports_nothing_above_it(package):
    code = _IMPORT_ALL.format(blocked=LAYERS[package], package=package)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr.strip().splitlines()[-1]
    assert int(run.stdout.strip()) >= 5      # every module was walked, not an empty package


def test_a_blocked_import_is_detected():
    """The check can fail: cgap (which imports fpga_model) does not import with fpga_model blocked."""
    code = _IMPORT_ALL.format(blocked=("fpga_model",), package="cgap")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0 and "fpga_model" in run.stderr
