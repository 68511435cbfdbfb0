"""The documentation site builds with warnings as errors (mkdocs --strict): every nav entry exists,
every internal link resolves, every ``::: module`` of the API reference imports and renders, and the
tutorial notebooks render."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        pytest.importorskip(module, reason="install the docs extra: pip install snnkit[docs]")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    # the pages a reader needs are there and carry their content
    assert "Getting started" in (site / "getting-started" / "index.html").read_text()
    api = (site / "api" / "neurons" / "index.html").read_text()
    assert "tau_mem" in api and "CubaLIF" in api          # docstrings rendered, not just headings
    notebook = (site / "tutorials" / "01_neurons_and_surrogates" / "index.html").read_text()
    assert "surrogate" in notebook
    assert len(list((site / "tutorials").glob("[0-9][0-9]_*/index.html"))) >= 12
