"""Make the SVG screenshots in assets/ from a freshly trained toy registry.

    .venv/bin/python scripts/screenshots.py [HOME]
"""

import asyncio
import sys
import tempfile
from pathlib import Path

from lmctui.core.data import DataConfig
from lmctui.core.training import TrainConfig
from lmctui.service.catalog import open_registry
from lmctui.service.requests import InterpRequest
from lmctui.service.science import interp
from lmctui.service.training import TrainRequest, train_runs
from lmctui.tui.app import make_app

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def build(home: Path) -> list[str]:
    registry = open_registry(home)
    ids = []
    for width in (4, 64):
        runs = train_runs(registry, TrainRequest(DataConfig("moons"), width=width, depth=1, seeds=(0, 1),
                                                 train=TrainConfig(epochs=20), device="cpu"))
        ids += [r["id"] for r in runs]
        interp(registry, InterpRequest(runs[0]["id"], runs[1]["id"], ("naive", "weight", "activation"), device="cpu"))
    return ids


async def shoot(home: Path) -> None:
    app = make_app(home, run_jobs=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.save_screenshot(str(ASSETS / "runs.svg"))
        await pilot.press("3")
        app.save_screenshot(str(ASSETS / "barriers.svg"))
        await pilot.press("enter")
        await pilot.pause(0.5)
        app.save_screenshot(str(ASSETS / "interpolation.svg"))
        await pilot.press("escape", "4")
        await pilot.pause(0.5)
        app.save_screenshot(str(ASSETS / "sweep.svg"))
        await pilot.press("1", "j", "j", "space", "space", "d")
        await pilot.pause(3)
        app.save_screenshot(str(ASSETS / "regions.svg"))


def main() -> None:
    home = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="lmctui-shots-"))
    build(home)
    asyncio.run(shoot(home))
    print(f"screenshots in {ASSETS} (registry {home})")


if __name__ == "__main__":
    main()
