"""Headless Debian Chromium for the dashboard tests: one fresh profile per
browser (so two dashboards on 127.0.0.1 keep separate session cookies), no
network beyond loopback, no downloads of any kind."""
import os
import shutil
import tempfile

# Selenium Manager must never fetch a driver or a browser: the paths below
# are given explicitly, and offline mode makes sure of it.
os.environ.setdefault("SE_OFFLINE", "true")

CHROMIUM = os.environ.get("CONECT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONECT_CHROMEDRIVER", "/usr/bin/chromedriver")


def missing():
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed (apt-get install python3-selenium)"
    return None


def exit_unless_available():
    """Exits 77 (ctest: skipped) saying why when the browser tests cannot
    run here; every suite calls it before importing Selenium."""
    why = missing()
    if why:
        print(f"SKIP: browser tests need Chromium: {why}")
        raise SystemExit(77)


class Browser:
    def __init__(self, width=1280, height=800):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="conect-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
                    "--no-default-browser-check", "--lang=en-GB",
                    f"--user-data-dir={self.profile}", f"--window-size={width},{height}"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.driver.set_window_size(width, height)

    def console_errors(self):
        try:
            logs = self.driver.get_log("browser")
        except Exception:
            return []
        return [e["message"] for e in logs if e.get("level") == "SEVERE"]

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
