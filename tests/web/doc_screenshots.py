"""Takes the screenshots in docs/img/ from a running demo federation.

    conect-node demo --dir /tmp/demo --web-root web &
    /usr/bin/python3 tests/web/doc_screenshots.py /tmp/demo/fi [build/release/node/cli/conect-node]

It asks the node for a one-time login link (`conect-node dashboard`), opens
the dashboard in headless Chromium and saves the placements list and the
timeline at 1280x800, and the list at phone width.
"""
import os
import re
import subprocess
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import browser  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "docs", "img")


def login_link(binary, data):
    out = subprocess.run([binary, "dashboard", "--data", data], capture_output=True, text=True, check=True).stdout
    return re.search(r"http://\S+\?login=\w+", out).group(0)


def ready(d):
    WebDriverWait(d, 60).until(lambda x: x.execute_script("return !!(window.conect && window.conect.ready)"))


def main():
    data = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CONECT_NODE", "conect-node")
    os.makedirs(OUT, exist_ok=True)
    b = browser.Browser(1280, 800)
    d = b.driver
    try:
        d.get(login_link(binary, data))
        ready(d)
        d.save_screenshot(os.path.join(OUT, "dashboard.png"))
        d.find_element(By.ID, "tab-timeline").click()
        WebDriverWait(d, 10).until(lambda x: x.find_elements(By.CSS_SELECTOR, "#timeline .tl-window"))
        d.save_screenshot(os.path.join(OUT, "timeline.png"))
        d.set_window_size(390, 844)
        d.get(d.current_url.split("#")[0] + "#placements")
        d.refresh()
        ready(d)
        d.save_screenshot(os.path.join(OUT, "dashboard-phone.png"))
    finally:
        b.close()
    print("saved dashboard.png, timeline.png, dashboard-phone.png in", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
