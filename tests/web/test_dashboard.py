"""The dashboard in headless Chromium against real conect-node processes.

Three schools (FI, SE, NO) run on loopback and sync; each test drives the
dashboard of one of them the way a coordinator would and compares what the
page shows with what the node's API answers. Every wait is a condition with
a deadline (WebDriverWait); nothing sleeps and hopes.

Exit status: 0 when every test passed, 1 otherwise, 77 (skipped) only when
Chromium, chromedriver or Selenium is not installed.
"""
import datetime
import os
import shutil
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import browser  # noqa: E402
import runner  # noqa: E402

browser.exit_unless_available()

from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

import harness  # noqa: E402
from harness import cli, wait_until  # noqa: E402

ARTIFACTS = os.environ.get("CONECT_WEB_ARTIFACTS") or os.path.join(HERE, "..", "..", "web", "test-artifacts")
WAIT = 60  # seconds; a deadline, not a pause


# ------------------------------------------------------------------ data
def org(node, name, country, city, org_type="vet_school", local=()):
    """`local`: (lang, text) names beside the English one."""
    _, o = node.api("POST", "/api/v1/organisations", {
        "names": [{"lang": "en", "text": name}] + [{"lang": lang, "text": text} for lang, text in local],
        "type": org_type, "country": country, "city": city,
    }, expect=201)
    return o["id"]


def placement(node, host, trade, country, city, windows, titles, languages, safety=(), status="open"):
    body = {
        "host_organisation": host, "trade": trade, "country": country, "city": city, "status": status,
        "title": [{"lang": lang, "text": text} for lang, text in titles],
        "windows": [{"window_id": i + 1, "start": s, "end": e, "capacity": c} for i, (s, e, c) in enumerate(windows)],
        "languages": [{"lang": lang, "level": level} for lang, level in languages],
        "safety": list(safety),
        "minimum_age": 16 if "minimum_age" in safety else 0,
    }
    _, p = node.api("POST", "/api/v1/placements", body, expect=201)
    return p["id"]


def api_placements(node, **filters):
    """Every placement the node's API lists for these filters, all pages."""
    out, cursor = [], None
    while True:
        q = {k: v for k, v in filters.items() if v not in (None, "", False)}
        q["limit"] = 500
        if cursor:
            q["cursor"] = cursor
        _, page = node.api("GET", "/api/v1/placements?" + urllib.parse.urlencode(q), expect=200)
        out += page["items"]
        cursor = page.get("next_cursor")
        if not cursor or not page["items"]:
            return out


def three_schools(fed):
    """Schools in Finland (A), Sweden (B) and Norway (C) that trust each
    other, running; A dials B and C (so after C dies A keeps it as a peer to
    redial), B dials C."""
    a = fed.add("Lapland Vocational College", "FI")
    b = fed.add("Norrbotten Upper Secondary", "SE")
    c = fed.add("Finnmark Upper Secondary", "NO")
    fed.trust_all()
    for n in (a, b, c):
        n.start()
    a.dial(b)
    a.dial(c)
    b.dial(c)
    return a, b, c


def wait_synced(fed, nodes):
    """Links up between the running nodes and digests equal."""
    running = [n for n in nodes if n.proc]
    for i, x in enumerate(running):
        for y in running[i + 1:]:
            wait_until(f"{x.name} linked to {y.name}", lambda x=x, y=y: y.node_id in x.connected_peers(), timeout=WAIT)
    fed.wait_converged(running, timeout=WAIT)


def first_start(p):
    return min(w["start"] for w in p["windows"])


# -------------------------------------------------------------- browser
class Dashboard:
    """One coordinator's browser, signed in to one node's dashboard."""

    def __init__(self, node, width=1280, height=800):
        self.node = node
        self.b = browser.Browser(width, height)
        self.d = self.b.driver
        self.base = f"http://127.0.0.1:{node.ports['api']}/"

    def wait(self, what, predicate, timeout=WAIT):
        def safe(d):
            try:
                return predicate(d)
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(safe)
        except TimeoutException:
            raise AssertionError(f"{self.node.name}'s dashboard: timed out after {timeout}s waiting for {what}")

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def sign_in_with_token(self):
        self.d.get(self.base)
        self.wait("the sign-in dialog", lambda d: d.find_element(By.ID, "login-token").is_displayed())
        self.d.find_element(By.ID, "login-token").send_keys(self.node.token)
        self.d.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        self.wait_ready()

    def wait_ready(self):
        self.wait("the dashboard to load", lambda d: d.execute_script("return !!(window.conect && window.conect.ready)"))
        self.js("window.__same_document = true")  # gone after any reload

    def same_document(self):
        return self.js("return window.__same_document === true")

    def view(self, name):
        self.d.find_element(By.ID, f"tab-{name}").click()
        self.wait(f"the {name} view", lambda d: d.find_element(By.ID, f"view-{name}").is_displayed())

    def row_ids(self):
        return self.js("return [...document.querySelectorAll('#placements-body > tr')].map(r => r.dataset.id)")

    def window_state(self, pid, window_id):
        return self.js("""
            const li = document.querySelector(`#placements-body tr[data-id="${arguments[0]}"] li[data-window="${arguments[1]}"]`);
            return li ? {free: +li.dataset.free, pending: +li.dataset.pending, confirmed: +li.dataset.confirmed} : null;
        """, pid, window_id)

    def shot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, name + ".png")
        self.d.save_screenshot(path)
        return path

    def close(self):
        self.b.close()


# ---------------------------------------------------------------- tests
class Suite(runner.BrowserSuite):
    def setup(self):
        """Three schools that trust each other. Most data lives on A (it
        speaks for two companies, one across the border in Sweden), so the
        single-node tests do not depend on sync; B and C add their own."""
        self.a, self.b, self.c = three_schools(self.fed)

        a_school = org(self.a, "Lapland Vocational College", "FI", "Rovaniemi", local=[("fi", "Lapin ammattiopisto")])
        a_steel = org(self.a, "Tornio Steel Oy", "FI", "Tornio", "large_enterprise")
        a_hotel = org(self.a, "Haparanda Stadshotell AB", "SE", "Haparanda", "sme")
        b_school = org(self.b, "Norrbotten Upper Secondary", "SE", "Luleå", local=[("sv", "Norrbottens gymnasium")])
        c_school = org(self.c, "Finnmark Upper Secondary", "NO", "Alta")
        self.p_weld_fi = placement(
            self.a, a_steel, "welder", "FI", "Tornio",
            [("2026-03-02", "2026-03-27", 3), ("2026-05-04", "2026-05-29", 2)],
            [("en", "Welding at a steel mill"), ("fi", "Hitsausta terästehtaalla"), ("ru", "Сварка на металлургическом заводе")],
            [("fi", "A2"), ("en", "B1")], ["ppe", "hot_work", "safety_induction"])
        self.p_cook_se = placement(
            self.a, a_hotel, "cook", "SE", "Haparanda", [("2026-06-01", "2026-06-26", 1)],
            [("en", "Hotel kitchen by the border"), ("sv", "Hotellkök vid gränsen")], [("sv", "B1"), ("fi", "B1")])
        self.p_elec_fi = placement(
            self.a, a_school, "electrician", "FI", "Kemi", [("2026-09-07", "2026-10-30", 2)],
            [("en", "Electrical installation at a mine site")], [("en", "B2")],
            ["ppe", "work_at_height", "minimum_age"])
        self.p_mech_fi = placement(
            self.a, a_steel, "mechanic", "FI", "Tornio", [("2026-01-12", "2026-02-06", 2), ("2026-04-13", "2026-05-08", 2)],
            [("fi", "Kunnossapitomekaanikko"), ("en", "Maintenance mechanic")], [("fi", "B1")], ["machinery"])
        self.p_cook_fi_closed = placement(
            self.a, a_school, "cook", "FI", "Rovaniemi", [("2026-03-16", "2026-04-10", 2)],
            [("en", "School canteen")], [("fi", "B1")], status="closed")
        self.p_weld_se = placement(
            self.b, b_school, "welder", "SE", "Luleå", [("2026-04-06", "2026-04-24", 2)],
            [("en", "Steelworks maintenance welding"), ("sv", "Svetsning i stålverk")], [("sv", "A2"), ("en", "B1")],
            ["ppe", "hot_work"])
        self.p_nurse_se = placement(
            self.b, b_school, "nurse assistant", "SE", "Kiruna",
            [("2026-02-02", "2026-02-27", 1), ("2026-08-17", "2026-09-11", 2)],
            [("en", "Elderly care home"), ("sv", "Äldreboende")], [("sv", "B2")], ["medical_certificate"])
        self.p_carp_no = placement(
            self.c, c_school, "carpenter", "NO", "Alta", [("2026-05-11", "2026-06-19", 4)],
            [("en", "Timber house building"), ("nb", "Bygging av trehus")], [("nb", "A2"), ("en", "B1")],
            ["ppe", "machinery"])
        self.total = 8

    def wait_federation_synced(self):
        """Links up and digests equal: the multi-node tests start from here."""
        wait_synced(self.fed, (self.a, self.b, self.c))

    def dashboard(self, node, **kw):
        d = Dashboard(node, **kw)
        self.browsers.append(d)
        return d

    # -- the tests, in order: one node first, then those that need sync --
    def test_sign_in_keeps_the_token_out_of_reach(self):
        self.da = self.dashboard(self.a)
        self.da.sign_in_with_token()
        d = self.ensure_a()
        token = self.a.token
        cookies = d.js("return document.cookie")
        assert "conect_session" not in cookies, f"session cookie readable by scripts: {cookies!r}"
        storage = d.js("return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
        assert token not in storage, "the API token was stored in web storage"
        assert d.d.find_element(By.ID, "login-token").get_attribute("value") == "", "token left in the input"
        session = [c for c in d.d.get_cookies() if c["name"].startswith("conect_session")]
        assert session and session[0].get("httpOnly") and session[0].get("sameSite") == "Strict", session
        # The same browser reloads into the dashboard without asking again.
        d.d.refresh()
        d.wait_ready()
        assert not d.d.find_element(By.ID, "login-dialog").is_displayed()
        # A wrong token is refused with a message, and the dialog stays.
        other = self.dashboard(self.a)
        other.d.get(other.base)
        other.wait("the sign-in dialog", lambda x: x.find_element(By.ID, "login-token").is_displayed())
        other.d.find_element(By.ID, "login-token").send_keys("0" * len(token) + "\n")
        other.wait("the refusal", lambda x: x.find_element(By.ID, "login-error").is_displayed())
        assert other.d.find_element(By.ID, "login-dialog").is_displayed()
        other.close()
        self.browsers.remove(other)

    def own_rows_match_api(self, d, **filters):
        """The page's rows equal the API's answer for these filters, sorted by
        start date. Polled: a partner's data may still be arriving."""
        last = {}

        def same(_):
            want = [p["id"] for p in sorted(api_placements(self.a, **filters), key=lambda p: (first_start(p), p["id"]))]
            got = d.row_ids()
            last.update(want=want, got=got)
            return got == want and d.js("return document.getElementById('placements-count').dataset.loading") == "false"
        try:
            d.wait(f"the rows for {filters} to match the API", same)
        except AssertionError as e:
            raise AssertionError(f"{e}: page {last.get('got')}, API {last.get('want')}")
        return last["got"]

    def test_own_placements_render_with_their_details(self):
        d = self.ensure_a()
        self.own_rows_match_api(d)
        text = d.d.find_element(By.CSS_SELECTOR, f'#placements-body tr[data-id="{self.p_weld_fi}"]').text
        for expected in ("Tornio Steel Oy", "Finland", "welder", "Welding at a steel mill", "Tornio", "Finnish A2",
                         "English B1", "protective equipment", "hot work", "safety induction",
                         "3 free, 0 pending, 0 confirmed of 3", "2 free, 0 pending, 0 confirmed of 2", "your placement"):
            assert expected in text, f"{expected!r} missing from the row: {text!r}"
        text = d.d.find_element(By.CSS_SELECTOR, f'#placements-body tr[data-id="{self.p_elec_fi}"]').text
        assert "minimum age 16" in text, text
        text = d.d.find_element(By.CSS_SELECTOR, f'#placements-body tr[data-id="{self.p_cook_fi_closed}"]').text
        assert "closed" in text, text
        assert "Lapland Vocational College" in d.d.find_element(By.ID, "node-name").text
        foreign = d.js("return performance.getEntriesByType('resource').map(e => e.name)"
                       ".filter(u => !u.startsWith(location.origin + '/'))")
        assert foreign == [], f"the page fetched from elsewhere: {foreign}"
        assert not d.d.find_elements(By.CSS_SELECTOR, f'#placements-body button[data-placement^="{self.a.node_id}"]'), \
            "the node offers to request its own placements"
        d.shot("dashboard-own")

    def test_title_follows_the_viewers_language(self):
        d = self.ensure_a()
        title = lambda pid: d.d.find_element(By.CSS_SELECTOR, f'#placements-body tr[data-id="{pid}"] td.title').text
        Select(d.d.find_element(By.ID, "lang-select")).select_by_value("fi")
        d.wait("Finnish labels", lambda x: x.find_element(By.ID, "tab-placements").text == "Harjoittelupaikat")
        assert title(self.p_weld_fi) == "Hitsausta terästehtaalla", title(self.p_weld_fi)
        # A form's own checks speak the dashboard's language, not the
        # browser's (this Chromium's menus are English): an empty required
        # field, a country that is not two letters, a number below its
        # minimum; typing clears the complaint.
        checks = d.js("""
            const f = document.createElement('form');
            f.innerHTML = '<input name=a required><input name=country pattern="[A-Za-z]{2}" data-hint=hint_country'
              + ' value=FIN><input name=n type=number min=1 value=0>';
            document.body.append(f);
            const out = [...f.elements].map((el) => { el.checkValidity(); return el.validationMessage; });
            f.elements.a.value = 'x';
            f.elements.a.dispatchEvent(new Event('input', { bubbles: true }));
            out.push(f.elements.a.validationMessage);
            f.remove();
            return out.join('|');""")
        assert checks == "Täytä tämä kenttä.|Kaksi kirjainta, esim. FI, SE, NO, RU|Vähintään 1.|", checks
        assert title(self.p_elec_fi) == "Electrical installation at a mine site", "no Finnish title: English expected"
        # A member is named as its own organisation of that name is in the
        # reader's language (a school showed under its card's English name
        # beside its organisation's Finnish one).
        d.wait("the node's Finnish name", lambda x: "Lapin ammattiopisto" in x.find_element(By.ID, "node-name").text)
        assert "Suomi" in d.d.find_element(By.CSS_SELECTOR, f'#placements-body tr[data-id="{self.p_weld_fi}"]').text
        for lang, tab in (("sv", "Praktikplatser"), ("nb", "Praksisplasser"), ("ru", "Места практики")):
            Select(d.d.find_element(By.ID, "lang-select")).select_by_value(lang)
            d.wait(f"{lang} labels", lambda x, tab=tab: x.find_element(By.ID, "tab-placements").text == tab)
            assert d.js("return document.documentElement.lang") == lang
            if lang == "sv":
                d.wait("B under its Swedish name", lambda x: "Norrbottens gymnasium" in x.find_element(By.ID, "sync-peers").text)
        assert title(self.p_weld_fi) == "Сварка на металлургическом заводе", title(self.p_weld_fi)
        # Northern Sami is named in the reader's language though the browser
        # has no name for it (it showed "se (se)").
        sami = lambda: d.js("return document.querySelector('#f-language option[value=se]').textContent")
        assert sami().startswith("северносаамский"), sami()
        assert title(self.p_mech_fi) == "Maintenance mechanic", title(self.p_mech_fi)
        missing = d.js("return import('/js/i18n.js').then(m => JSON.stringify(m.missingKeys()))")
        assert missing == "{}", f"untranslated strings: {missing}"
        # Counts take the language's plural form ("1 harjoittelupaikkaa" was
        # shown), also when the number comes formatted for the reader.
        counted = d.js("return import('/js/i18n.js').then(m => { m.setLanguage('fi');"
                       " const out = [1, 2, '1\u00a0234'].map(n => m.t('placements_count', { n }));"
                       " m.setLanguage('ru'); return out.join('|'); })")
        assert counted == "1 harjoittelupaikka|2 harjoittelupaikkaa|1\u00a0234 harjoittelupaikkaa", counted
        # The choice survives a reload (it is the one thing the page stores).
        d.d.refresh()
        d.wait_ready()
        assert d.d.find_element(By.ID, "tab-placements").text == "Места практики"
        Select(d.d.find_element(By.ID, "lang-select")).select_by_value("en")
        d.wait("English labels", lambda x: x.find_element(By.ID, "tab-placements").text == "Placements")
        assert sami().startswith("Northern Sami"), sami()

    def apply_filters(self, d, trade="", country="", start="", end="", language="", available=False):
        """Sets the form like a user and waits for the load it starts."""
        d.d.find_element(By.ID, "f-trade").clear()
        d.d.find_element(By.ID, "f-trade").send_keys(trade)
        for field, value in (("f-country", country), ("f-language", language)):
            select = Select(d.d.find_element(By.ID, field))
            if value and value not in [o.get_attribute("value") for o in select.options]:
                raise AssertionError(f"{field} offers no {value!r}")
            select.select_by_value(value)
        for field, value in (("f-from", start), ("f-to", end)):
            # A date input's typing order depends on the browser's locale; set its value.
            d.js("arguments[0].value = arguments[1]", d.d.find_element(By.ID, field), value)
        box = d.d.find_element(By.ID, "f-available")
        if box.is_selected() != available:
            box.click()  # applies at once
        loads = d.js("return window.conect.loads")
        d.d.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        d.wait("the filtered list", lambda _: d.js("return window.conect.loads") > loads)

    def test_filters_narrow_the_list_exactly_as_the_api_does(self):
        d = self.ensure_a()
        cases = [
            dict(trade="welder"),
            dict(country="SE"),
            dict(language="fi"),
            dict(start="2026-05-01", end="2026-05-31"),
            dict(trade="cook", country="FI"),
            dict(available=True),
            dict(start="2026-09-01", end="2026-12-31", language="en"),
        ]
        for case in cases:
            self.apply_filters(d, **case)
            api_args = {"trade": case.get("trade"), "country": case.get("country"), "language": case.get("language"),
                        "from": case.get("start"), "to": case.get("end"),
                        "available": "true" if case.get("available") else None}
            got = self.own_rows_match_api(d, **api_args)
            everything = len(api_placements(self.a))
            assert 0 < len(got) < everything, f"filter {case} shows {len(got)} of {everything}: it narrowed nothing"
        self.apply_filters(d)
        self.own_rows_match_api(d)

    def test_timeline_draws_every_window_at_its_dates(self):
        d = self.ensure_a()
        d.view("timeline")
        want = {(p["id"], w["window_id"]): w for p in api_placements(self.a) for w in p["windows"]}
        bars_js = """
            return [...document.querySelectorAll('#timeline .tl-row')].flatMap(r =>
              [...r.querySelectorAll('.tl-window')].map(w => ({id: r.dataset.id, window: +w.dataset.window,
                 free: +w.dataset.free, left: w.offsetLeft, width: w.offsetWidth})));"""
        got = d.wait("every window on the timeline",
                     lambda _: (lambda bars: bars if {(b["id"], b["window"]) for b in bars} == set(want) else None)(
                         d.js(bars_js)))
        day_px = int(d.js("return document.getElementById('timeline').dataset.dayPx"))
        assert 4 <= day_px <= 16, day_px
        epoch = lambda iso: datetime.date.fromisoformat(iso).toordinal()
        first = min(epoch(w["start"]) for w in want.values())
        last = max(epoch(w["end"]) for w in want.values())
        monday = first - datetime.date.fromordinal(first).weekday()
        for bar in got:
            w = want[(bar["id"], bar["window"])]
            assert bar["free"] == w["available"], (bar, w)
            days = epoch(w["end"]) - epoch(w["start"]) + 1
            assert abs(bar["width"] - days * day_px) <= 1, f"bar {bar} for {w['start']}..{w['end']} ({days} days)"
            assert abs(bar["left"] - (epoch(w["start"]) - monday) * day_px) <= 1, \
                f"bar {bar} is not at {w['start']} (the timeline starts on the Monday of {first})"
        weeks = d.js("return document.querySelectorAll('#timeline .tl-week').length")
        assert weeks == -(-(last - monday + 1) // 7), f"{weeks} week columns from the Monday before the first window"
        d.shot("timeline-1280")
        d.view("placements")

    def test_phone_width_has_no_sideways_scroll(self):
        d = self.ensure_a()
        d.d.set_window_size(390, 844)
        try:
            d.view("placements")
            d.d.refresh()  # a phone opens the page at its width: filters start folded
            d.wait_ready()
            d.wait("layout at phone width", lambda _: d.js("return window.innerWidth") <= 400)
            assert not d.js("return document.getElementById('filter-box').open"), "filters not folded on a phone"
            overflow = d.js("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the page is {overflow}px wider than a 390px phone"
            cards = d.js("return getComputedStyle(document.querySelector('#placements-body tr')).display")
            assert cards == "block", f"rows are not cards at phone width ({cards})"
            d.shot("dashboard-390")
        finally:
            d.d.set_window_size(1280, 800)
            d.d.refresh()
            d.wait_ready()

    def test_render_time_of_5000_placements(self):
        seed_tool = harness.SEED
        if not (os.path.isabs(seed_tool) and os.access(seed_tool, os.X_OK)) and not shutil.which(seed_tool):
            raise AssertionError(f"conect-seed not found ({seed_tool}); set CONECT_SEED")
        big = self.fed.add("Big Federation Hub", "FI")
        harness.seed(big, 20_300)  # about one placement in four deltas
        big.start()
        try:
            total = len(api_placements(big))
            assert total >= 5000, f"seeded only {total} placements"
            d = self.dashboard(big)
            t0 = time.monotonic()
            d.sign_in_with_token()
            d.wait("every placement loaded", lambda _: d.js("return window.conect.timings.count") == total, timeout=300)
            wall = time.monotonic() - t0
            timings = d.js("return window.conect.timings")
            built = d.js("return document.querySelectorAll('#placements-body > tr').length")
            assert d.js("return document.getElementById('placements-count').textContent") == f"{total} placements"
            all_rows = d.js("return window.conect.renderAll()")
            assert d.js("return document.querySelectorAll('#placements-body > tr').length") == total
            self.notes.append(
                f"render time, {total} placements: first rows {timings['firstPageMs']:.0f} ms after the first "
                f"request; all pages fetched {timings['fetchMs']:.0f} ms; painting the sorted list ({built} rows "
                f"built) {timings['paintMs']:.0f} ms; sign-in to fully loaded {wall * 1000:.0f} ms; building "
                f"all {total} rows of both views at once {all_rows:.0f} ms")
            d.shot("dashboard-5000")
            d.close()
            self.browsers.remove(d)
        finally:
            big.stop()

    def test_live_updates_from_this_node_without_reload(self):
        """A write made outside the page (the CLI, another tab) shows up in
        place; a request on one of this node's placements can be decided
        from the Requests view and the slots follow."""
        d = self.ensure_a()
        d.view("placements")
        before = len(d.row_ids())
        host = api_placements(self.a, trade="mechanic")[0]["host_organisation"]
        self.p_plumb_fi = placement(
            self.a, host, "plumber", "FI", "Tornio", [("2026-01-19", "2026-02-13", 1)],
            [("en", "Pipe fitting at the mill")], [("fi", "A2")])
        self.total += 1
        d.wait("the new placement to appear", lambda _: self.p_plumb_fi in d.row_ids())
        assert len(d.row_ids()) == before + 1
        self.own_rows_match_api(d)  # and in start-date order
        # A request arrives for the mechanic placement's April window.
        _, r = self.a.api("POST", f"/api/v1/placements/{self.p_mech_fi}/reservations",
                          {"window_id": 2, "slots": 1, "note": "From the CLI"}, expect=201)
        d.wait("the pending slot in the list",
               lambda _: d.window_state(self.p_mech_fi, 2) == {"free": 2, "pending": 1, "confirmed": 0})
        d.wait("the badge", lambda x: x.find_element(By.ID, "requests-badge").text == "1")
        d.view("requests")
        row = f'#incoming-table tr[data-id="{r["id"]}"]'
        d.wait("the request in the incoming list", lambda x: x.find_elements(By.CSS_SELECTOR, row + '[data-decision="pending"]'))
        d.d.find_element(By.CSS_SELECTOR, row + ' button[data-action="reject"]').click()
        d.wait("the rejection", lambda x: x.find_elements(By.CSS_SELECTOR, row + '[data-decision="rejected"]'))
        assert not d.d.find_element(By.ID, "requests-badge").is_displayed()
        d.view("placements")
        d.wait("the slot freed", lambda _: d.window_state(self.p_mech_fi, 2) == {"free": 2, "pending": 0, "confirmed": 0})
        _, r = self.a.api("POST", f"/api/v1/placements/{self.p_mech_fi}/reservations",
                          {"window_id": 2, "slots": 2}, expect=201)
        d.view("requests")
        row = f'#incoming-table tr[data-id="{r["id"]}"]'
        d.wait("the second request", lambda x: x.find_elements(By.CSS_SELECTOR, row + '[data-decision="pending"]'))
        d.d.find_element(By.CSS_SELECTOR, row + ' button[data-action="confirm"]').click()
        d.wait("the confirmation", lambda x: x.find_elements(By.CSS_SELECTOR, row + '[data-decision="confirmed"]'))
        d.view("placements")
        d.wait("the window full", lambda _: d.window_state(self.p_mech_fi, 2) == {"free": 0, "pending": 0, "confirmed": 2})
        assert d.same_document(), "the dashboard reloaded; it must update in place"

    def ensure_a(self):
        if not getattr(self, "da", None):
            self.da = self.dashboard(self.a)
            self.da.sign_in_with_token()
        return self.da

    def ensure_b(self):
        if not getattr(self, "db", None):
            self.db = self.dashboard(self.b)
            self.db.sign_in_with_token()
        return self.db

    def test_login_link_is_used_once_and_stripped_from_the_address(self):
        p = cli("dashboard", data=self.b.data, check=False)
        if p.returncode != 0 or "login=" not in p.stdout:
            raise AssertionError(f"`conect-node dashboard` gave no login link (exit {p.returncode}): "
                                 f"{p.stdout.strip()} {p.stderr.strip()}")
        url = next(w for w in p.stdout.split() if "login=" in w)
        url = url.replace("localhost", "127.0.0.1")
        d = self.dashboard(self.b)
        d.d.get(url)
        d.wait_ready()
        assert "login=" not in d.d.current_url, d.d.current_url
        self.db = d
        # The code is spent: another browser gets the sign-in dialog instead.
        other = self.dashboard(self.b)
        other.d.get(url)
        other.wait("the sign-in dialog after a reused code",
                   lambda x: x.find_element(By.ID, "login-token").is_displayed())
        assert "login=" not in other.d.current_url, other.d.current_url
        other.close()
        self.browsers.remove(other)

    def test_dashboard_lists_every_placement_of_the_federation(self):
        self.wait_federation_synced()
        d = self.ensure_a()
        got = self.own_rows_match_api(d)
        assert len(got) == self.total, f"{len(got)} placements shown, {self.total} in the federation"
        text = d.d.find_element(By.CSS_SELECTOR, f'#placements-body tr[data-id="{self.p_weld_se}"]').text
        for expected in ("Norrbotten Upper Secondary", "Sweden", "welder", "Steelworks maintenance welding", "Luleå",
                         "Swedish A2", "protective equipment", "2 free, 0 pending, 0 confirmed of 2", "Request"):
            assert expected in text, f"{expected!r} missing from the row: {text!r}"
        assert d.same_document(), "the dashboard reloaded to show partners' data"
        d.shot("dashboard-1280")

    def test_keyboard_reaches_the_request_dialog_and_back(self):
        from selenium.webdriver.common.keys import Keys
        self.wait_federation_synced()
        d = self.ensure_a()
        d.view("placements")
        button = d.d.find_element(By.CSS_SELECTOR, f'#placements-body button[data-placement="{self.p_carp_no}"]')
        d.js("arguments[0].focus()", button)
        d.d.switch_to.active_element.send_keys(Keys.ENTER)
        d.wait("the dialog", lambda x: x.find_element(By.ID, "reserve-dialog").is_displayed())
        assert d.js("return document.activeElement.id") == "reserve-slots"
        d.d.switch_to.active_element.send_keys(Keys.ESCAPE)
        d.wait("the dialog to close", lambda x: not x.find_element(By.ID, "reserve-dialog").is_displayed())
        assert d.js("return document.activeElement.dataset.placement") == self.p_carp_no, "focus not given back"
        unlabelled = d.js("""return [...document.querySelectorAll('input, select, textarea')].filter(e =>
            e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id)""")
        assert unlabelled == [], f"inputs without a label: {unlabelled}"

    def test_reservation_from_b_is_pending_at_a_and_confirmation_reaches_b_live(self):
        self.wait_federation_synced()
        da, db = self.ensure_a(), self.ensure_b()
        db.view("placements")
        db.wait("A's placement at B", lambda _: db.window_state(self.p_weld_fi, 1) == {"free": 3, "pending": 0, "confirmed": 0})
        da.view("requests")
        # B asks for two slots of A's first welding window.
        db.d.find_element(By.CSS_SELECTOR, f'#placements-body button[data-placement="{self.p_weld_fi}"][data-window="1"]').click()
        db.wait("the request dialog", lambda x: x.find_element(By.ID, "reserve-dialog").is_displayed())
        slots = db.d.find_element(By.ID, "reserve-slots")
        slots.clear()
        slots.send_keys("2")
        db.d.find_element(By.ID, "reserve-note").send_keys("Two second-year welding students")
        db.d.find_element(By.CSS_SELECTOR, "#reserve-form button[type=submit]").click()
        db.wait("the dialog to close", lambda x: not x.find_element(By.ID, "reserve-dialog").is_displayed())
        db.wait("B's own view to count the pending request",
                lambda _: db.window_state(self.p_weld_fi, 1) == {"free": 3, "pending": 2, "confirmed": 0})

        # A's open dashboard learns of it through sync and the change stream.
        row = f'#incoming-table tr[data-placement="{self.p_weld_fi}"][data-decision="pending"]'
        da.wait("the pending request at A", lambda x: len(x.find_elements(By.CSS_SELECTOR, row)) == 1)
        text = da.d.find_element(By.CSS_SELECTOR, row).text
        assert "Norrbotten Upper Secondary" in text and "Two second-year welding students" in text, text
        assert da.d.find_element(By.ID, "requests-badge").text == "1"
        da.shot("requests-incoming")
        da.d.find_element(By.CSS_SELECTOR, row + ' button[data-action="confirm"]').click()
        da.wait("A to show it confirmed", lambda x: len(x.find_elements(
            By.CSS_SELECTOR, f'#incoming-table tr[data-placement="{self.p_weld_fi}"][data-decision="confirmed"]')) == 1)
        assert not da.d.find_element(By.ID, "requests-badge").is_displayed()

        # B's page, never reloaded, shows the slots taken.
        db.wait("the confirmation at B", lambda _: db.window_state(self.p_weld_fi, 1) == {"free": 1, "pending": 0, "confirmed": 2})
        assert db.same_document(), "B's dashboard reloaded; it must update in place"
        assert da.same_document(), "A's dashboard reloaded; it must update in place"
        db.view("requests")
        db.wait("B's request confirmed", lambda x: len(x.find_elements(
            By.CSS_SELECTOR, f'#outgoing-table tr[data-placement="{self.p_weld_fi}"][data-decision="confirmed"]')) == 1)
        api_w = next(w for w in api_placements(self.b, trade="welder", country="FI")[0]["windows"] if w["window_id"] == 1)
        assert (api_w["available"], api_w["confirmed"]) == (1, 2), api_w
        db.view("timeline")
        db.wait("the timeline bar", lambda x: x.find_elements(
            By.CSS_SELECTOR, f'#timeline .tl-row[data-id="{self.p_weld_fi}"] .tl-window[data-window="1"][data-free="1"]'))
        db.shot("timeline-after-booking")
        db.view("placements")

    def test_a_refused_confirmation_stays_through_a_live_update(self):
        # After the booking above, A's first welding window has 1 free slot
        # of 3. B asks for 2; A's confirmation is refused (409), and the
        # reason stayed on screen only until the next live refresh, about
        # two seconds, before a coordinator could read it.
        da = self.ensure_a()
        da.view("requests")
        _, r = self.b.api("POST", f"/api/v1/placements/{self.p_weld_fi}/reservations", {"window_id": 1, "slots": 2},
                          expect=201)
        row = f'#incoming-table tr[data-id="{r["id"]}"][data-decision="pending"]'
        da.wait("B's second request at A", lambda x: x.find_elements(By.CSS_SELECTOR, row))
        # The row says the window has no room for it before anyone confirms.
        note = f'{row} .no-room'
        da.wait("the no-room note", lambda x: x.find_elements(By.CSS_SELECTOR, note))
        assert "only 1 free in this window" in da.d.find_element(By.CSS_SELECTOR, note).text
        da.d.find_element(By.CSS_SELECTOR, row + ' button[data-action="confirm"]').click()
        banner = lambda: da.js("const e = document.getElementById('error'); return e.hidden ? null : e.textContent")
        da.wait("the refusal", lambda _: banner() is not None)
        said = banner()
        refreshes = da.js("return window.conect.refreshes")
        org(self.a, "Written during the refusal", "FI", "Oulu")  # a change: the page refreshes live
        da.wait("a live refresh", lambda _: da.js("return window.conect.refreshes") > refreshes)
        assert banner() == said, f"the refusal went with a live refresh: {banner()!r} (was {said!r})"
        self.a.api("POST", f"/api/v1/reservations/{r['id']}/reject", {}, expect=200)

    def test_federation_panel_shows_a_killed_partner_as_disconnected(self):
        self.wait_federation_synced()
        d = self.ensure_a()
        d.view("federation")
        state = lambda node: d.js(
            "const r = document.querySelector(`#members-table tr[data-id='${arguments[0]}']`); return r && r.dataset.state",
            node.node_id)
        strip = lambda node: d.js("const li = document.querySelector(`#sync-peers li[data-id='${arguments[0]}']`);"
                                  "return li && li.dataset.state", node.node_id)
        d.wait("both partners connected", lambda _: state(self.b) == "connected" and state(self.c) == "connected")
        assert state(self.a) == "self"
        # Membership (docs/membership.md): A founded the federation, B and C are
        # trusted by A's own `member add` (overrides); the line above counts them.
        membership = lambda node: d.js(
            "const c = document.querySelector(`#members-table tr[data-id='${arguments[0]}'] td.membership`);"
            "return c && [c.dataset.status, c.textContent]", node.node_id)
        assert membership(self.a) == ["admitted", "admitted (founder)"], membership(self.a)
        assert membership(self.b) == ["override", "trusted by this node only"], membership(self.b)
        summary = d.d.find_element(By.ID, "members-summary")
        assert (summary.get_attribute("data-admitted"), summary.get_attribute("data-pending")) == ("1", "0")
        assert summary.text == "admitted members: 1 · awaiting admission: 0 · admission quorum: 1", summary.text
        assert strip(self.c) == "connected"
        self.c.kill9()
        d.wait("C shown disconnected", lambda _: state(self.c) == "disconnected")
        assert strip(self.c) == "disconnected"
        assert state(self.b) == "connected"
        text = d.d.find_element(By.CSS_SELECTOR, f"#members-table tr[data-id='{self.c.node_id}']").text
        assert "Finnmark Upper Secondary" in text and "disconnected" in text, text
        d.shot("federation")
        assert d.same_document()

    def test_federation_panel_rotates_and_expels_after_a_confirmation(self):
        # Last: it changes A's key and B's standing.
        d = self.ensure_a()
        d.view("federation")
        result = lambda: d.js("const r = document.getElementById('members-result');"
                              "return r.hidden ? null : [r.dataset.action, r.dataset.outcome, r.textContent]")
        seq = lambda: self.a.status()["version_vector"][self.a.node_id]["seq"]
        mine = lambda node: next(m for m in self.a.api("GET", "/api/v1/members", expect=200)[1]["items"]
                                 if m["node_id"] == node.node_id)
        expel = f"#members-table button[data-action='expel'][data-id='{self.b.node_id}']"
        # Declined: each action asks first, in plain words, and writes nothing.
        before = seq()
        d.js("window.__asked = []; window.confirm = (m) => { window.__asked.push(m); return false; };")
        for button in ("members-rotate", "members-leave"):
            d.d.find_element(By.ID, button).click()
        asked = d.js("return window.__asked")
        assert len(asked) == 2 and "new key" in asked[0] and "cannot be undone" in asked[1], asked
        assert "new seal key" in asked[0] and "30 days" in asked[0], asked  # the seal key rotates too
        assert seq() == before and mine(self.a)["key_changes"] == 0 and result() is None
        # Confirmed: the rotation is written and said.
        d.js("window.confirm = (m) => { window.__asked.push(m); return true; };")
        d.d.find_element(By.ID, "members-rotate").click()
        d.wait("the rotation's result", lambda _: result() is not None)
        assert result()[:2] == ["rotate", "done"] and "Key rotated" in result()[2], result()
        assert "new seal key" in result()[2], result()
        assert mine(self.a)["key_changes"] == 1 and seq() == before + 1
        # B is trusted by A's own override, not admitted: nothing to expel yet.
        assert not d.d.find_elements(By.CSS_SELECTOR, expel)
        self.a.api("POST", "/api/v1/members/admit", {"card": self.b.card()}, expect=201)
        d.d.refresh()
        d.wait_ready()
        d.js("window.__asked = []; window.confirm = (m) => { window.__asked.push(m); return true; };")
        d.view("federation")
        d.wait("B's expel button", lambda x: x.find_elements(By.CSS_SELECTOR, expel))
        d.d.find_element(By.CSS_SELECTOR, expel).click()
        d.wait("the removal's result", lambda _: result() is not None and result()[0] == "expel")
        assert result()[1] == "done" and "Removal vote for Norrbotten Upper Secondary written" in result()[2], result()
        assert "Expel" in d.js("return window.__asked[0]"), d.js("return window.__asked")
        assert mine(self.b)["status"] == "removed"
        d.wait("B shown removed", lambda _: d.js(
            "const c = document.querySelector(`#members-table tr[data-id='${arguments[0]}'] td.membership`);"
            "return c && c.dataset.status", self.b.node_id) == "removed")
        d.shot("federation-actions")


def main():
    return runner.run(Suite())


if __name__ == "__main__":
    sys.exit(main())
