"""Retraining the shipped world models with the one documented command reproduces them.

On a machine whose numerics fingerprint (CPU, vector width, torch, thread count) is the one the
shipped weights were trained with, every file must come back byte for byte. Elsewhere the float
reductions run in another order (judgefree_hub.numerics), so the files that do not depend on
floats must still be identical and the training curves must follow the shipped ones.
"""

import subprocess
import sys

import pytest

from judgefree_hub.demo import retrain

pytestmark = pytest.mark.slow

# Relative, per logged mean loss (100 steps each), and for the mean of the last three. Measured:
# the same machine forced to AVX2 instead of AVX-512 (ATEN_CPU_CAPABILITY=avx2) trains curves
# that differ by up to 11% (world-llava's plateau near step 500) and 4% at the end.
CURVE_TOLERANCE = 0.25
END_TOLERANCE = 0.10


def test_the_retrain_command_reproduces_the_shipped_world_models(tmp_path, record_property):
    out = tmp_path / "weights"
    proc = subprocess.run([sys.executable, "-m", "judgefree_hub.demo.retrain", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {len(retrain.read_manifest(out)['files'])} files to {out}" in proc.stdout
    shipped, fresh = retrain.read_manifest(), retrain.read_manifest(out)
    assert fresh["training"] == shipped["training"]
    assert fresh["fingerprint"]["threads"] == str(retrain.TRAIN_THREADS)
    same_numerics = fresh["fingerprint"] == shipped["fingerprint"]
    record_property("retrain_check", "bytes" if same_numerics else "training curves")
    print("retrain check:", "bytes" if same_numerics else f"training curves (numerics: {fresh['fingerprint']})")
    if same_numerics:
        assert retrain.differences(shipped, fresh) == []
        assert fresh["losses"] == shipped["losses"]
        return
    float_free = [n for n in shipped["files"] if not n.endswith(".safetensors")]
    assert [n for n in retrain.differences(shipped, fresh) if n in float_free] == []
    for model, curve in shipped["losses"].items():
        again = fresh["losses"][model]
        assert len(again) == len(curve)
        for step, (a, b) in enumerate(zip(curve, again)):
            assert abs(a - b) <= CURVE_TOLERANCE * abs(a), (model, (step + 1) * 100, a, b)
        end, end_again = sum(curve[-3:]) / 3, sum(again[-3:]) / 3
        assert abs(end - end_again) <= END_TOLERANCE * end, (model, end, end_again)
