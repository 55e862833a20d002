"""The warm-up compiles in a child process only when this version's kernels are not on disk yet."""
import pytest

pytest.importorskip("panel")

import app.warmup as warmup  # noqa: E402


def test_the_kernel_cache_is_cold_until_an_index_file_is_there(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not warmup.kernel_cache_is_warm()
    (tmp_path / "dendcore" / "kernels").mkdir(parents=True)
    (tmp_path / "dendcore" / "kernels" / "train.step-1.py311.nbi").write_bytes(b"")
    assert warmup.kernel_cache_is_warm()


@pytest.mark.parametrize("warm", [True, False])
def test_the_child_compiles_only_on_a_cold_cache(warm, monkeypatch):
    calls = []
    monkeypatch.setattr(warmup, "kernel_cache_is_warm", lambda: warm)
    monkeypatch.setattr(warmup, "compile_in_a_child", lambda: calls.append("child") or True)
    monkeypatch.setattr(warmup, "_use_kernels", lambda name, data: calls.append(name))
    monkeypatch.setattr(warmup, "_measure_spiking_rate", lambda data: 123.0)
    monkeypatch.setattr("app.tsne.start_worker", lambda: None)
    w = warmup.WarmUp()
    w.run()
    assert w.error is None and w.spiking_rate == 123.0
    assert calls == ([] if warm else ["child"]) + ["glr17-1hl", "glr17-1hl-rate"]


def test_a_failing_child_leaves_the_compiling_to_the_server(monkeypatch, caplog):
    class Failed:
        pid, returncode = 1 << 30, 1

        def communicate(self, timeout=None):
            return None, "Traceback...\nMemoryError: out of memory"
    monkeypatch.setattr(warmup.subprocess, "Popen", lambda *a, **k: Failed())
    assert warmup.compile_in_a_child() is False
    assert "MemoryError: out of memory" in caplog.text


def test_the_compiling_child_ends_with_its_server(tmp_path):
    """A server stopped while its child compiles on a cold cache takes the child with it."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path
    root = Path(warmup.__file__).resolve().parents[1]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cold")}
    # a stand-in server: starts the child as the warm-up does, says its pid, and ends at once
    out = subprocess.run(["sh", "-c", f"'{sys.executable}' -m app.warmup --compile-only --parent $$ >/dev/null 2>&1 & echo $!"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=30)
    pid = int(out.stdout.strip())

    def running() -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        return state not in ("Z", "X")
    t0 = time.monotonic()
    try:
        while running() and time.monotonic() - t0 < 60:
            time.sleep(0.2)
        assert not running(), "the compiling child outlived its parent (a cold compile takes minutes)"
    finally:
        if running():
            os.kill(pid, 9)
