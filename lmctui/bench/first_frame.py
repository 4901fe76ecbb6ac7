"""Child process for the start-up benchmarks: open the app headless and report its first frame
(`FIRST_FRAME`), or with --runs the frame that first shows runs: `FIRST_RUNS <time.time() of
that frame>` (the app notes it when it paints them; the line itself may come later, while the
app reads the whole registry in the background)."""

import sys

POLL_SECONDS = 0.01


def main(home: str, runs: bool = False) -> None:
    from lmctui.tui.app import make_app

    app = make_app(home)

    async def auto_pilot(pilot):
        await pilot.pause()
        if runs:
            while app.first_runs_at is None:
                await pilot.pause(POLL_SECONDS)
            print("FIRST_RUNS", app.first_runs_at, flush=True)
        else:
            print("FIRST_FRAME", flush=True)
        app.exit()

    app.run(headless=True, size=(80, 24), auto_pilot=auto_pilot)


if __name__ == "__main__":
    main(sys.argv[1], "--runs" in sys.argv[2:])
