"""Runs a browser test suite: setup(), then its test_* methods in order
(CONECT_WEB_TESTS=a,b runs those whose names contain a or b), printing PASS
or FAIL with the time each took; on a failure the screenshots of every open
browser, their console errors and the last lines of each node's log. The
suite has `fed` (a harness Federation), `browsers` (dashboards with shot()
and b), `notes` (printed at the end) and close()."""
import json
import os
import time
import traceback

from harness import Federation


class BrowserSuite:
    """What every suite has: a federation of nodes, the browsers it opened
    (closed at the end), and notes printed after the tests."""

    def __init__(self):
        self.fed = Federation()
        self.browsers = []
        self.notes = []

    def close(self):
        for d in self.browsers:
            try:
                d.close()
            except Exception:
                pass
        self.fed.close()


def report_failure(suite, name):
    traceback.print_exc()
    for i, d in enumerate(suite.browsers):
        try:
            print(f"  screenshot: {d.shot(f'FAIL-{name}-{i}')}")
            errors = d.b.console_errors()
            if errors:
                print("  console:", json.dumps(errors[-5:]))
        except Exception:
            pass
    for n in suite.fed.nodes:
        print(f"  --- last lines of {n.name}'s log:\n" + "\n".join(n.read_log().splitlines()[-8:]))


def run(suite, stop_after_failing=()):
    """Returns the exit status: 0 when every test passed. A failure of a test
    named in `stop_after_failing` skips the rest (they build on it)."""
    tests = [name for name in type(suite).__dict__ if name.startswith("test_")]
    only = os.environ.get("CONECT_WEB_TESTS")
    if only:
        tests = [t for t in tests if any(o in t for o in only.split(","))]
    passed, failed = 0, 0
    started = time.monotonic()
    try:
        try:
            suite.setup()
        except Exception:
            traceback.print_exc()
            for n in suite.fed.nodes:
                print(f"--- log of {n.name}:\n{n.read_log()[-4000:]}")
            print(f"0 passed, {len(tests)} failed (setup failed)")
            return 1
        for name in tests:
            start = time.monotonic()
            try:
                getattr(suite, name)()
                passed += 1
                print(f"PASS {name} ({time.monotonic() - start:.1f}s)", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {name} ({time.monotonic() - start:.1f}s)", flush=True)
                report_failure(suite, name)
                if name in stop_after_failing:
                    break
        for note in suite.notes:
            print(note)
    finally:
        suite.close()
    print(f"{passed} passed, {failed} failed ({time.monotonic() - started:.0f}s)")
    return 0 if failed == 0 else 1
