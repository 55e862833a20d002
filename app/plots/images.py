"""Small greyscale PNGs of data-set images, for hover tooltips."""
from __future__ import annotations

import base64
import io
import math
import threading

import numpy as np

_IMAGE_CACHE: dict[tuple, list[str]] = {}
_IMAGE_LOCK = threading.Lock()


def png_data_uri(img: np.ndarray, scale: int = 1) -> str:
    """A small greyscale PNG (white background, dark ink) as a data URI, for hover tooltips."""
    from PIL import Image
    a = 255 - np.asarray(img, dtype=np.uint8)
    im = Image.fromarray(a, mode="L")
    if scale > 1:
        im = im.resize((a.shape[1] * scale, a.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def probe_image_uris(dataset, indices: np.ndarray) -> list[str]:
    """Data URIs of the probe test images; made once per data set and probe set, shared by sessions."""
    key = (dataset.name, len(indices), int(indices[0]) if len(indices) else 0,
           int(indices[-1]) if len(indices) else 0)
    with _IMAGE_LOCK:
        if key not in _IMAGE_CACHE:
            side = int(round(math.sqrt(dataset.n_inputs)))
            _IMAGE_CACHE[key] = [png_data_uri(dataset.test_images[int(i)].reshape(side, side)) for i in indices]
        return _IMAGE_CACHE[key]
