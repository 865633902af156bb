"""How quickly the kiosk appears, how quickly it answers a tap, and whether its memory stays flat.

    python benchmarks/kiosk_ui.py [--surveys 200] [--starts 5]

Runs offscreen (SDL offscreen + Mesa), on this machine, in one run:
1. Cold start: process launch to the first drawn frame of the welcome screen, against a bare Kivy
   window (one Label) started the same way. Goal: at most 1.0 s, and at most 2x the bare window.
2. Tap to the next question's first frame: a touch on Next, to the end of the first frame that
   shows the next question (glFinish included, at the app's real 60 fps cap). Goal: p95 <= 50 ms.
3. Memory: RSS after 20 and after 200 simulated surveys, each screen drawn, each response saved
   in a real store. Goal: peak at most 150 MB, and RSS after 200 within 10% of RSS after 20.

Both windows are started by the same code (`screens.boot.prepare_kivy`, the same environment), so
the bare window is the floor every Kivy app pays here: its RSS is split into file-backed pages
(shared libraries, mostly Mesa's llvmpipe and LLVM) and anonymous memory. The renderer, Mesa's
raster thread count (`LP_NUM_THREADS`, unset = one per core; `--lp-threads` pins it) and the load
average are printed, because on a software renderer every figure depends on them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POST_VISIT = {
    "overall": 2,
    "front_desk": "somewhat",
    "wait": "over_30",
    "recommend": 9,
    "improve": "Shorter wait",
    "contact_ok": False,
}


def prepare(max_fps: int) -> None:
    from screens.boot import prepare_kivy

    prepare_kivy(Path(tempfile.mkdtemp(prefix="kivy-bench-")), windowed=True, offscreen=True, max_fps=max_fps)


def child_start(kind: str) -> None:
    """One cold start; prints the seconds from the parent's launch to the first drawn frame."""
    launched = float(os.environ["BENCH_LAUNCHED"])
    prepare(60)
    from kivy.app import App
    from kivy.core.window import Window

    def first_frame(*_: Any) -> None:
        anon, file = rss_split_mb()
        print(f"FIRST_FRAME {time.time() - launched:.4f} {rss_mb():.1f} {anon:.1f} {file:.1f}", flush=True)
        os._exit(0)

    if kind == "bare":
        from kivy.uix.label import Label

        class Bare(App):
            def build(self) -> Label:
                return Label(text="Hello")

            def on_start(self) -> None:
                Window.bind(on_flip=first_frame)

        Bare().run()
        return
    from kiosk.config import KioskConfig
    from kiosk.controller import KioskController
    from kiosk.store import ResponseStore
    from kiosk.survey import builtin_survey
    from screens.app import KioskApp, Worker

    data = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    store = ResponseStore(data)
    controller = KioskController(builtin_survey("post-visit"), KioskConfig(), store, background=Worker())

    class Timed(KioskApp):
        def on_start(self) -> None:
            Window.bind(on_flip=first_frame)

    Timed(controller).run()


def cold_starts(kind: str, runs: int) -> list[tuple[float, float, float, float]]:
    """(seconds to the first frame, RSS, anonymous RSS, file-backed RSS in MB at that frame) per run."""
    times = []
    for _ in range(runs):
        env = {**os.environ, "BENCH_LAUNCHED": repr(time.time())}
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind], capture_output=True, text=True, env=env, timeout=60
        )
        line = next((x for x in done.stdout.splitlines() if x.startswith("FIRST_FRAME ")), None)
        if line is None:
            raise SystemExit(f"{kind} start failed:\n{done.stderr[-2000:]}")
        times.append(tuple(float(x) for x in line.split()[1:5]))
    return times


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_split_mb() -> tuple[float, float]:
    """(anonymous, file-backed) resident MB: what the process allocated vs. the libraries it maps."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["RssAnon"], fields["RssFile"]


def renderer() -> str:
    from kivy.graphics.opengl import GL_RENDERER, glGetString

    return glGetString(GL_RENDERER).decode()


def child_run(surveys: int) -> None:
    """Tap latency, then the memory soak, in one offscreen app; prints one JSON line."""
    prepare(60)
    from kivy.base import EventLoop, runTouchApp
    from kivy.core.window import Window
    from kivy.graphics.opengl import glFinish
    from kivy.input.motionevent import MotionEvent

    from kiosk.config import KioskConfig
    from kiosk.controller import KioskController
    from kiosk.store import ResponseStore
    from kiosk.survey import builtin_survey
    from screens.app import KioskApp, Worker

    class Touch(MotionEvent):
        def depack(self, args: dict[str, float]) -> None:
            self.profile = ["pos"]
            self.sx, self.sy = args["x"], args["y"]
            super().depack(args)

    data = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    store = ResponseStore(data)
    worker = Worker()
    now = [1000.0]
    controller = KioskController(
        builtin_survey("post-visit"), KioskConfig(), store, clock=lambda: now[0], background=worker
    )
    app = KioskApp(controller, transitions=False)
    app._run_prepare()
    runTouchApp(embedded=True)
    flips = [0]
    Window.bind(on_flip=lambda *_: flips.__setitem__(0, flips[0] + 1))

    def frame() -> None:
        EventLoop.idle()

    def tap(widget: Any) -> None:
        x, y = widget.to_window(widget.x + widget.width / 2, widget.y + widget.height / 2)
        touch = Touch("bench", id(widget), {"x": x / Window.width, "y": y / Window.height}, is_touch=True)
        EventLoop.post_dispatch_input("begin", touch)
        EventLoop.post_dispatch_input("end", touch)

    question = app.screen("question")
    latencies: list[float] = []
    into: list[str] = []

    def survey(measure: bool) -> None:
        controller.start()
        frame()
        while controller.question_view is not None:
            view = controller.question_view
            value = POST_VISIT.get(view.question.id)
            if view.question.type == "text":
                controller.type_text(value or "")
            elif value is not None:
                controller.answer(value)
            for _ in range(6):  # a person reads, then taps Next: about 0.1 s at the least
                frame()
            glFinish()
            now[0] += 3
            shown = view.question.id
            started = time.perf_counter()
            before = flips[0]
            tap(question.ids.next)
            while True:  # until a frame is drawn that shows what comes next
                frame()
                current = controller.question_view
                if flips[0] > before and (current is None or current.question.id != shown):
                    break
            glFinish()
            if measure and controller.question_view is not None:
                latencies.append(time.perf_counter() - started)
                into.append(controller.question_view.question.id)
        while controller.phase != "thank_you":
            frame()
        now[0] += controller.thank_you_seconds
        controller.tick()
        frame()

    for _ in range(30):
        survey(measure=True)
    rss = {}
    for n in range(1, surveys + 1):
        survey(measure=False)
        if n in (20, surveys):
            rss[n] = rss_mb()
    worker.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    anon, file = rss_split_mb()
    result = {"latencies": latencies, "into": into, "rss": rss, "peak": peak, "stored": store.count()}
    result |= {"anon": anon, "file": file, "renderer": renderer()}
    print("RESULT " + json.dumps(result))
    os._exit(0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--surveys", type=int, default=200)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--lp-threads", type=int, help="Mesa llvmpipe raster threads (0: none)")
    parser.add_argument("--child", choices=["bare", "app", "run"])
    args = parser.parse_args()
    if args.child == "run":
        child_run(args.surveys)
        return
    if args.child:
        child_start(args.child)
        return
    if args.lp_threads is not None:
        os.environ["LP_NUM_THREADS"] = str(args.lp_threads)  # inherited by every child
    threads = os.environ.get("LP_NUM_THREADS", f"unset: one per core, {os.cpu_count()}")
    print(f"Load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; LP_NUM_THREADS {threads}")

    bare, app = [], []
    for _ in range(args.starts):  # alternate, so that a busy moment hurts both alike
        bare += cold_starts("bare", 1)
        app += cold_starts("app", 1)
    bare_s, bare_mb, bare_anon, bare_file = (statistics.median(run[i] for run in bare) for i in range(4))
    app_s, app_mb = (statistics.median(run[i] for run in app) for i in range(2))
    print(f"Cold start to the first drawn frame (median of {args.starts})")
    print(
        f"  bare Kivy window  {bare_s:6.3f} s   RSS {bare_mb:6.1f} MB   "
        f"(anonymous {bare_anon:5.1f}, file-backed {bare_file:5.1f})"
    )
    print(
        f"  kiosk welcome     {app_s:6.3f} s   RSS {app_mb:6.1f} MB   "
        f"ratio {app_s / bare_s:4.2f}x   (goal <= 1.0 s and <= 2x)"
    )

    done = subprocess.run(
        [sys.executable, __file__, "--child", "run", "--surveys", str(args.surveys)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"run failed:\n{done.stderr[-3000:]}")
    result = json.loads(line[len("RESULT ") :])
    ms = [x * 1000 for x in result["latencies"]]
    print(f"Tap on Next to the next question's first frame ({len(ms)} taps, 60 fps cap)")
    print(f"  rendered by {result['renderer']}")
    print(
        f"  p50 {percentile(ms, 0.5):5.1f} ms   p95 {percentile(ms, 0.95):5.1f} ms   "
        f"max {max(ms):5.1f} ms   (goal p95 <= 50 ms)"
    )
    by_screen: dict[str, list[float]] = {}
    for question, value in zip(result["into"], ms, strict=True):
        by_screen.setdefault(question, []).append(value)
    print("  median into " + ", ".join(f"{q} {statistics.median(v):.0f}" for q, v in by_screen.items()))
    rss = {int(k): v for k, v in result["rss"].items()}
    first, last = rss[20], rss[args.surveys]
    print(f"Memory over {args.surveys} surveys ({result['stored']} responses stored)")
    print(
        f"  RSS after 20 {first:6.1f} MB   after {args.surveys} {last:6.1f} MB   "
        f"growth {100 * (last / first - 1):+5.1f}%   peak {result['peak']:6.1f} MB   "
        "(goal peak <= 150 MB, growth within 10%)"
    )
    print(
        f"  peak over a bare Kivy window's RSS: {result['peak'] - bare_mb:+6.1f} MB   (at the end: anonymous "
        f"{result['anon']:5.1f}, file-backed {result['file']:5.1f})"
    )
    print(f"Load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
