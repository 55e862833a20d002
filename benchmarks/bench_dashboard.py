"""Dashboard benchmark: update rate, slider latency, streaming overhead, time to the first point.

Serves the app in this process (``pn.serve`` on a thread, so the benchmark can
read the session's controller and clocks) and drives it with Debian's headless
Chromium through Playwright, i.e. with real Bokeh serialisation and a real
browser on the same machine.

    python -m benchmarks.bench_dashboard                 # spiking glr17-1hl, ~1 minute
    python -m benchmarks.bench_dashboard --preset glr17-1hl-rate --seconds 10

Targets (issue "live teaching dashboard"): plots update at least 4 times a
second while training; a slider move reaches the engine within 200 ms;
streaming costs at most 20 % of headless training throughput; the first
plotted point appears under 3 s after opening the page (warm Numba cache).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:  # noqa: D103
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Headless:
    """The bare trainer: same spec, seed (hence the same examples), diagnostics and chunking as the
    dashboard's engine, but no snapshots, no queue, no plots."""

    def __init__(self, preset: str):
        from dendcore import Diagnostics, Trainer, get_preset, load_dataset
        from app.pacing import FIRST_CHUNK

        spec = get_preset(preset).spec
        self.tr = Trainer(spec, data=load_dataset("mnist"), seed=0,
                          diagnostics=Diagnostics(traces=True, probe=False))
        self.n = FIRST_CHUNK[spec.mode]
        self.rate = None

    def run_for(self, seconds: float) -> float:
        from app.pacing import MAX_CHUNK, TARGET_CHUNK_S

        e0, t0, c0 = self.tr.examples_seen, time.perf_counter(), time.thread_time()
        while time.perf_counter() - t0 < seconds:
            k0 = time.perf_counter()
            self.tr.train_examples(self.n, record_last=True)
            dt = time.perf_counter() - k0
            r = self.n / dt if dt > 0 else 1e9
            self.rate = r if self.rate is None else 0.7 * self.rate + 0.3 * r
            self.n = int(min(MAX_CHUNK, max(1, self.rate * TARGET_CHUNK_S)))
        self.cpu_per_example = (time.thread_time() - c0) / max(1, self.tr.examples_seen - e0)
        return (self.tr.examples_seen - e0) / (time.perf_counter() - t0)


class Session:
    """The in-process server and one browser page on it."""

    def __init__(self, query: str = ""):
        import panel as pn
        from app import page as page_mod

        self.page_mod = page_mod
        self.port = free_port()
        self.server = pn.serve({"app": page_mod.build_page}, port=self.port, address="127.0.0.1",
                               websocket_origin=[f"127.0.0.1:{self.port}"], show=False, threaded=True,
                               start=True)
        self.url = f"http://127.0.0.1:{self.port}/app{query}"
        t0 = time.time()
        while time.time() - t0 < 30:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)

    def dashboard(self, timeout=30.0):
        t0 = time.time()
        while time.time() - t0 < timeout:
            live = [d for d in list(self.page_mod.SESSIONS) if not d._closed]
            if live:
                return live[-1]
            time.sleep(0.05)
        raise RuntimeError("no dashboard session appeared")

    def stop(self):
        for d in list(self.page_mod.SESSIONS):
            d.close()
        try:
            self.server.stop()
        except Exception:
            pass


def run(preset: str, seconds: float, rounds: int = 3) -> dict:
    from playwright.sync_api import sync_playwright
    from app.warmup import warm_up

    out: dict = {"preset": preset, "load_avg_start": os.getloadavg()}
    t = time.perf_counter()
    warm_up()                                   # a warm Numba cache, as on a served machine
    out["warm_up_s"] = time.perf_counter() - t

    session = Session(f"?preset={preset}")
    frames: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1900, "height": 2400})
            page.on("websocket", lambda ws: ws.on("framereceived", lambda _: frames.append(time.perf_counter())))

            # ---- time from opening the page to the first plotted point after Play
            t_open = time.perf_counter()
            page.goto(session.url, timeout=60_000)
            play = page.get_by_role("button", name="▶ Play")
            play.wait_for(timeout=60_000)
            t_visible = time.perf_counter()
            dash = session.dashboard()
            ctrl = dash.ctrl
            play.click()
            t_click = time.perf_counter()
            page.get_by_text("examples seen: ").first.wait_for()
            import re
            page.get_by_text(re.compile(r"examples seen: [1-9]")).first.wait_for(timeout=30_000)
            t_browser = time.perf_counter()
            # the status line can come before the plots (they wait for pages opening, app/opening.py)
            while dash.first_point_t is None and time.perf_counter() - t_browser < 30:
                page.wait_for_timeout(20)
            first = dash.first_point_t
            out["page_open_to_play_button_s"] = t_visible - t_open
            out["play_click_to_first_point_server_s"] = (first - t_click) if first else None
            out["page_open_to_first_point_server_s"] = (first - t_open) if first else None
            out["page_open_to_first_point_in_browser_s"] = t_browser - t_open
            tl = dict(dash.timeline)
            for key in ("onload", "first_network"):
                if key in tl:
                    out[f"  page_open_to_{key}_s"] = tl[key] - t_open
            if ctrl.played_at:
                out["  page_open_to_play_click_s"] = ctrl.played_at - t_open
            page.mouse.move(5, 2300)

            # ---- update rate while training (server pushes and browser-side websocket bursts)
            page.wait_for_timeout(2000)      # (Playwright's own wait, so websocket events get timestamps)
            dash.update_times.clear()
            frames.clear()
            e0, w0 = ctrl.engine.examples_seen, time.perf_counter()
            page.wait_for_timeout(seconds * 1000)
            w1, e1 = time.perf_counter(), ctrl.engine.examples_seen
            ups = [u for u in dash.update_times if u >= w0]
            out["plot_updates_per_s_server"] = len(ups) / (w1 - w0)
            bursts = _bursts([f for f in frames if w0 <= f <= w1], gap=0.05)
            out["plot_updates_per_s_browser"] = len(bursts) / (w1 - w0)
            gaps = [b - a for a, b in zip(ups, ups[1:])]
            out["max_gap_between_updates_s"] = max(gaps) if gaps else None
            out["dashboard_examples_per_s_with_tests"] = (e1 - e0) / (w1 - w0)

            # ---- slider -> engine latency (keyboard on the g_a slider, 10 moves)
            handle = page.locator(".dl-g_a .noUi-handle").first
            lat = []
            for k in range(10):
                handle.focus()
                before = ctrl.last_live_applied
                t_press = time.perf_counter()
                page.keyboard.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
                t_wait = time.perf_counter()
                while ctrl.last_live_applied == before and time.perf_counter() - t_wait < 5:
                    time.sleep(0.002)
                if ctrl.last_live_applied != before:
                    lat.append(ctrl.last_live_applied - t_press)
                page.wait_for_timeout(300)
            out["slider_to_engine_ms_median"] = 1000 * statistics.median(lat) if lat else None
            out["slider_to_engine_ms_max"] = 1000 * max(lat) if lat else None
            srv = ctrl.live_latencies[-len(lat):] if lat else []
            out["server_param_to_engine_ms_max"] = 1000 * max(srv) if srv else None

            # ---- streaming overhead: dashboard (tests off) and the bare trainer, in alternating rounds
            #      so that whatever else runs on the machine weighs on both alike
            ctrl.engine.set_pacing(test_every=0)
            headless = Headless(preset)
            headless.run_for(1.0)                       # its first chunks are not representative
            dash_rates, bare_rates, dash_cpu, bare_cpu = [], [], [], []
            for _ in range(rounds):
                if not ctrl.running:
                    page.get_by_role("button", name="▶ Play").click()
                    page.mouse.move(5, 2300)
                page.wait_for_timeout(1500)
                e0, w0, c0 = ctrl.engine.examples_seen, time.perf_counter(), ctrl.engine.cpu_s
                cpu0 = _cpu_by_role()
                dash.update_times.clear()
                page.wait_for_timeout(seconds * 1000)
                w1, e1, c1 = time.perf_counter(), ctrl.engine.examples_seen, ctrl.engine.cpu_s
                cpu1 = _cpu_by_role()
                for role in cpu1:
                    share = (cpu1[role] - cpu0.get(role, 0.0)) / (w1 - w0)
                    out[f"  cpu_cores_{role}"] = max(share, out.get(f"  cpu_cores_{role}", 0.0))
                dash_rates.append((e1 - e0) / (w1 - w0))
                dash_cpu.append((c1 - c0) / max(1, e1 - e0))
                out.setdefault("plot_updates_per_s_server_no_tests", len(dash.update_times) / (w1 - w0))
                page.get_by_role("button", name="‖ Pause").click()
                page.wait_for_timeout(1000)
                bare_rates.append(headless.run_for(seconds))
                bare_cpu.append(headless.cpu_per_example)
            out["dashboard_examples_per_s_rounds"] = tuple(dash_rates)
            out["headless_examples_per_s_rounds"] = tuple(bare_rates)
            out["dashboard_examples_per_s"] = statistics.median(dash_rates)
            out["headless_examples_per_s"] = statistics.median(bare_rates)
            out["streaming_overhead_pct"] = 100.0 * (1.0 - out["dashboard_examples_per_s"]
                                                     / out["headless_examples_per_s"])
            # CPU time the training thread spends per example (insensitive to other load on the machine)
            out["engine_thread_cpu_ms_per_example"] = 1000 * statistics.median(dash_cpu)
            out["headless_cpu_ms_per_example"] = 1000 * statistics.median(bare_cpu)
            out["engine_thread_cpu_overhead_pct"] = 100.0 * (statistics.median(dash_cpu)
                                                             / statistics.median(bare_cpu) - 1.0)
            page.screenshot(path=str(ROOT / "screenshots" / f"bench-{preset}.png"))
            browser.close()
    finally:
        session.stop()

    out["load_avg_end"] = os.getloadavg()
    return out


def _cpu_by_role() -> dict[str, float]:
    """CPU seconds used so far by this process (server + engine), the browser and the t-SNE worker."""
    import psutil

    me = psutil.Process()
    out = {"server_process": sum(me.cpu_times()[:2]), "browser": 0.0, "tsne_worker": 0.0}
    for child in me.children(recursive=True):
        try:
            name = " ".join(child.cmdline())
            t = sum(child.cpu_times()[:2])
        except psutil.Error:
            continue
        if "spawn_main" in name:
            out["tsne_worker"] += t
        elif "chrom" in name:
            out["browser"] += t
    return out


def _bursts(times: list[float], gap: float) -> list[float]:
    """Group websocket frames into messages-per-update (frames closer than ``gap`` s are one update)."""
    out = []
    for t in sorted(times):
        if not out or t - last > gap:
            out.append(t)
        last = t
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="glr17-1hl")
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each measuring window")
    ap.add_argument("--rounds", type=int, default=3, help="alternating dashboard/headless throughput rounds")
    args = ap.parse_args(argv)
    (ROOT / "screenshots").mkdir(exist_ok=True)
    r = run(args.preset, args.seconds, args.rounds)
    targets = {
        "plot_updates_per_s_server": (">=", 4.0),
        "plot_updates_per_s_browser": (">=", 4.0),
        "slider_to_engine_ms_max": ("<=", 200.0),
        "streaming_overhead_pct": ("<=", 20.0),
        "page_open_to_first_point_in_browser_s": ("<=", 3.0),
    }
    print(f"dashboard benchmark, preset {r['preset']} ({os.cpu_count()} cores)")
    for k, v in r.items():
        if k == "preset":
            continue
        mark = ""
        if k in targets and isinstance(v, (int, float)):
            op, lim = targets[k]
            ok = v >= lim if op == ">=" else v <= lim
            mark = f"   target {op} {lim:g}: {'ok' if ok else 'MISSED'}"
        if isinstance(v, float):
            v = f"{v:.3f}"
        elif isinstance(v, tuple):
            v = ", ".join(f"{x:.2f}" for x in v)
        print(f"  {k:42s} {v}{mark}")


if __name__ == "__main__":
    main()
