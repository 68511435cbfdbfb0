"""Build the tutorial notebooks (``NN_name.ipynb``, no outputs) from their sources ``src/NN_name.py``.

The sources use the percent format that jupytext and VS Code read: a line ``# %%`` starts a code cell,
``# %% [markdown]`` a Markdown cell whose lines are comments (``# text``). Edit the source, then run

    python examples/tutorials/build.py          # rewrite every notebook
    python examples/tutorials/build.py --check  # exit 1 if a notebook differs from its source
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def cells_of(source: str) -> list[tuple[str, str]]:
    """``[(kind, text)]`` of a percent-format source; kind is ``"code"`` or ``"markdown"``."""
    cells: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        out.append((kind, "\n".join(lines).strip("\n")))
    return out


def build(src: Path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    for i, (kind, text) in enumerate(cells_of(src.read_text())):
        cell = nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text)
        cell["id"] = f"{src.stem[:2]}-{i:02d}"  # stable ids: rebuilding changes nothing
        nb.cells.append(cell)
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 when a notebook is stale")
    args = ap.parse_args(argv)
    stale = []
    for src in sorted((HERE / "src").glob("[0-9][0-9]_*.py")):
        target, text = HERE / f"{src.stem}.ipynb", build(src)
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
    if stale:
        print("stale notebooks (run python examples/tutorials/build.py):", ", ".join(stale))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
