"""Shared by the handoff tests: run a scenario of tests/handoff_driver.py (the real kiosk window,
offscreen, in its own process) and read the QR code back from its screenshot as a phone would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.store import ResponseStore

DRIVER = Path(__file__).with_name("handoff_driver.py")
QUIET_MODULES = 4
LIGHT = 200  # a quiet-zone pixel darker than this would confuse a scanner


def run_handoff_driver(scenario: str, data_dir: Path, *, config: dict[str, Any], **params: Any) -> dict:
    """Write the kiosk's config.json, run one scenario, and return the JSON line it printed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "config.json"
    existing = json.loads(path.read_text()) if path.is_file() else {}
    KioskConfig.from_dict(existing | config).save(data_dir)
    args = {
        "scenario": scenario,
        "data_dir": str(data_dir),
        "shots": os.environ.get("KIOSK_UI_SHOTS"),
        **params,
    }
    done = subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        # llvmpipe's own raster threads only fight the test for this machine's two cores.
        env={"LP_NUM_THREADS": "0", **os.environ},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"driver failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def stored(data_dir: Path) -> list[dict]:
    with ResponseStore(data_dir) as store:
        return list(store.iter_records())


@dataclass(frozen=True)
class ScannedCode:
    text: str
    ec_level: str
    version: int
    side_px: int  # the symbol, without its quiet zone
    module_px: float
    quiet_zone_modules: int  # light modules all round the symbol, counted on the picture


def scan(png: Path) -> ScannedCode:
    """Decode the one QR code on a screenshot with zxing-cpp, and measure it as a scanner sees it."""
    import zxingcpp
    from PIL import Image

    with Image.open(png) as picture:
        image = picture.convert("L")
    # QR codes only, as a phone's camera looks for them: read as a 1D barcode, a stretch of the
    # QR's modules now and then passes for an "ITF" code.
    codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(codes) == 1, f"{png}: {len(codes)} QR codes found"
    code = codes[0]
    assert code.valid
    version = int(code.extra["Version"])
    modules = 17 + 4 * version
    corners = code.position
    left = min(corners.top_left.x, corners.bottom_left.x)
    right = max(corners.top_right.x, corners.bottom_right.x)
    top = min(corners.top_left.y, corners.top_right.y)
    bottom = max(corners.bottom_left.y, corners.bottom_right.y)
    side = max(right - left, bottom - top)
    module = side / modules
    return ScannedCode(
        text=code.text,
        ec_level=code.ec_level,
        version=version,
        side_px=side,
        module_px=module,
        quiet_zone_modules=_quiet_modules(image, (left, top, left + side, top + side), module),
    )


def _quiet_modules(image: Any, box: tuple[int, int, int, int], module: float) -> int:
    """How many whole modules of light pixels surround the symbol on every side (up to 8).

    `box` is (left, top, right, bottom) with right and bottom one past the symbol's last pixel.
    """
    left, top, right, bottom = box
    pixels = image.load()
    width, height = image.size
    for d in range(1, round(8 * module) + 1):
        x0, y0, x1, y1 = left - d, top - d, right - 1 + d, bottom - 1 + d
        if x0 < 0 or y0 < 0 or x1 >= width or y1 >= height:
            return int((d - 1) / module)
        ring = [(x, y) for x in range(x0, x1 + 1) for y in (y0, y1)]
        ring += [(x, y) for y in range(y0, y1 + 1) for x in (x0, x1)]
        if any(pixels[x, y] < LIGHT for x, y in ring):
            return int((d - 1) / module)
    return 8
