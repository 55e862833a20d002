"""``panel serve app`` as a subprocess: the liveness check and the page itself (no browser)."""
import json
import re

import pytest

from tests.system.conftest import http_get, served_app, wait_until

pytest.importorskip("panel")



def test_liveness_and_page():
    with served_app() as (base, log):
        status, body = http_get(f"{base}/liveness?endpoint=/app", timeout=60)
        assert status == 200, body
        assert json.loads(body) == {"/app": True}

        status, body = http_get(f"{base}/liveness?endpoint=/nope")
        assert status == 400

        status, html = http_get(f"{base}/app?preset=glr17-1hl-rate&g_a=0.05", timeout=60)
        assert status == 200
        assert "Dendrite Lab" in html

        wait_until(lambda: "training places:" in log.read_text(), 120, "the background warm-up")
        text = log.read_text()
        assert "Traceback" not in text, text
        # the cap is sized from the engine's measured speed (unless the environment sets it)
        assert re.search(r"training places: \d+ \((spiking 784-500-10 measured at \d+ examples/s per core|"
                         r"DENDRITE_MAX_TRAININGS)", text), text
