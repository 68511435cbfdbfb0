import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
# In CI (CI=true) a missing Lava environment is an error, not a skip: .ci/install.sh installs it.
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    os.environ.setdefault("SNNKIT_REQUIRE_LAVA", "1")


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield
