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
