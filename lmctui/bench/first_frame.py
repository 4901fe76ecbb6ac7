"""Child process for the start-up benchmark: open the app headless, report the first frame."""

import sys


def main(home: str) -> None:
    from lmctui.tui.app import make_app

    app = make_app(home)

    async def auto_pilot(pilot):
        await pilot.pause()
        print("FIRST_FRAME", flush=True)
        app.exit()

    app.run(headless=True, size=(80, 24), auto_pilot=auto_pilot)


if __name__ == "__main__":
    main(sys.argv[1])
