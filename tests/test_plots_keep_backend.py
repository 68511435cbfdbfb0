"""Library plots never switch the user's matplotlib backend (checked in a fresh interpreter)."""
import subprocess
import sys

SCRIPT = """
import matplotlib
matplotlib.use("pdf")
from snnkit.conversion.diagnostics import plot_accuracy_vs_T
from snnkit.hardware.crossbar.drift_study import plot_drift_study
from snnkit.cli.demo import plot_learning_curves
out = sys.argv[1]
plot_accuracy_vs_T({"a": {1: 0.5, 2: 0.7}}, out + "/a.png", 0.8)
plot_learning_curves({"snn": [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "train_accuracy": 0.5,
                               "val_accuracy": 0.4}]}, out + "/c.png")
plot_drift_study({"profile": "pcm", "times_s": [1.0, 10.0], "compensated": [0.9, 0.8], "compensated_std": [0, 0],
                  "uncompensated": [0.9, 0.7], "uncompensated_std": [0, 0], "repeats": 1, "digital": 0.95,
                  "label": "x", "time_labels": ["1 s", "10 s"]}, out + "/d.png")
print(matplotlib.get_backend())
"""


def test_plots_leave_the_backend_alone(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import sys\n" + SCRIPT, str(tmp_path)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().lower() == "pdf"
    assert all((tmp_path / f"{n}.png").stat().st_size > 1000 for n in "acd")
