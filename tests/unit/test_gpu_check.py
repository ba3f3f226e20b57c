"""benchmarks/gpu_check.sh without a GPU: nvidia-smi and Python are stand-ins that record what
they were asked, so the script's own logic (the bandwidth looked up from the GPU's name, the
override, the arguments each benchmark gets, a failure stopping it) is checked here; the
benchmarks it calls are tested on their own."""

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def stub(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_check(tmp_path: Path, gpu: str, python_rc: int = 0, **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    stub(bin_dir / "nvidia-smi", f'if [[ "$*" == *noheader* ]]; then echo {shlex.quote(gpu)}; '
                                 f'else echo "name, memory.total [MiB]"; echo {shlex.quote(gpu + ", 81559 MiB")}; fi\n')
    stub(bin_dir / "fakepython", f'printf "%s\\0" "$@" >> {shlex.quote(str(calls))}; printf "\\n" >> {shlex.quote(str(calls))}\n'
                                 f"exit {python_rc}\n")
    full_env = {key: value for key, value in os.environ.items() if key not in ("BANDWIDTH_GBS", "SAMPLES", "BATCH", "TOKENS")}
    full_env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHON=str(bin_dir / "fakepython"), **env)
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=full_env, timeout=60)
    recorded = []
    if calls.exists():
        for line in calls.read_text().split("\n"):
            if line:
                recorded.append([arg for arg in line.split("\0") if arg])
    return result, recorded


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


@pytest.mark.parametrize("gpu, bandwidth", [
    ("NVIDIA H100 80GB HBM3", "3350"),
    ("NVIDIA H100 PCIe", "2000"),
    ("NVIDIA H200", "4800"),
    ("NVIDIA A100-SXM4-80GB", "2039"),
    ("NVIDIA A100-SXM4-40GB", "1555"),
    ("NVIDIA L4", "300"),
    ("Tesla T4", "320"),
    ("NVIDIA A10G", "600"),
])
def test_bandwidth_from_the_gpu_name_reaches_both_configs(tmp_path, gpu, bandwidth):
    result, calls = run_check(tmp_path, gpu)
    assert result.returncode == 0, result.stderr
    assert f"memory bandwidth: {bandwidth} GB/s (data sheet of {gpu})" in result.stdout
    decode = [c for c in calls if c[0].endswith("decode.py")]
    assert [flag(c, "--config") for c in decode] == ["benchmarks/configs/llava-1.5-7b.json",
                                                    "benchmarks/configs/qwen2.5-vl-7b.json"]
    for call in decode:
        assert flag(call, "--device") == "cuda" and flag(call, "--dtype") == "bfloat16"
        assert flag(call, "--bandwidth") == bandwidth
        assert (flag(call, "--samples"), flag(call, "--batch"), flag(call, "--tokens")) == ("8", "8", "64")
    assert calls[-1] == ["benchmarks/cost.py"]


def test_override_and_sizes_from_the_environment(tmp_path):
    result, calls = run_check(tmp_path, "NVIDIA H100 80GB HBM3", BANDWIDTH_GBS="1234", SAMPLES="16", TOKENS="128")
    assert result.returncode == 0, result.stderr
    assert "memory bandwidth: 1234 GB/s (BANDWIDTH_GBS)" in result.stdout
    decode = [c for c in calls if c[0].endswith("decode.py")]
    assert {flag(c, "--bandwidth") for c in decode} == {"1234"}
    assert {(flag(c, "--samples"), flag(c, "--tokens")) for c in decode} == {("16", "128")}


def test_unknown_gpu_runs_without_a_floor(tmp_path):
    result, calls = run_check(tmp_path, "Some Future GPU")
    assert result.returncode == 0, result.stderr
    assert "memory bandwidth: none GB/s (unknown GPU: set BANDWIDTH_GBS for a floor)" in result.stdout
    decode = [c for c in calls if c[0].endswith("decode.py")]
    assert len(decode) == 2 and all("--bandwidth" not in c for c in decode)


def test_a_failing_benchmark_stops_the_script(tmp_path):
    result, calls = run_check(tmp_path, "NVIDIA H200", python_rc=3)
    assert result.returncode == 3
    assert len(calls) == 1  # the first config failed: nothing after it ran
