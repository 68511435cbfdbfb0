"""``snnkit info``: versions of snnkit, torch and the peer libraries, engines available, devices."""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
from typing import Any

PEERS = ("numpy", "snntorch", "norse", "spikingjelly", "nir", "nirtorch", "tonic", "mnist1d", "h5py",
         "matplotlib", "lava-nc", "lava-dl")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="versions, engines and devices")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def collect() -> dict[str, Any]:
    import torch

    import snnkit
    from snnkit import kernels
    versions: dict[str, str | None] = {"snnkit": snnkit.__version__, "python": platform.python_version(),
                                       "torch": torch.__version__}
    for name in PEERS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    devices: dict[str, Any] = {"cpu": {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}}
    if torch.cuda.is_available():
        devices["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices["mps"] = True
    return {"versions": versions, "engines": kernels.available(), "engine": kernels.get_engine(), "devices": devices}


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info))
        return 0
    print("versions:")
    for k, v in info["versions"].items():
        print(f"  {k:<13} {v if v else 'not installed'}")
    print(f"engines (selected: {info['engine']}):")
    for model, engines in info["engines"].items():
        print(f"  {model:<13} {', '.join(engines)}")
    print("devices:")
    for k, v in info["devices"].items():
        print(f"  {k:<13} {v}")
    return 0
