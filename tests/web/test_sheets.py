"""Import CSV in the dashboard (README "Spreadsheets", docs/dashboard.md), in
headless Chromium against a real conect-node process: a coordinator with no
shell on the server imports the sheet `conect-node import` reads.

A placements sheet as a spreadsheet in Finnish settings saves it
(semicolons, day-first dates, a cleared row) imports whole; a sheet with a
bad line imports nothing and the refusal names the line; the view's own
Download CSV imported again is refused as copies of records the node holds;
a contacts sheet with personal data but no audience is refused; Finnish
words for all of it. Exit status as test_dashboard.py (77: no browser).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import browser  # noqa: E402
import runner  # noqa: E402

browser.exit_unless_available()

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from harness import create_organisation, record_count  # noqa: E402
from test_dashboard import Dashboard  # noqa: E402

HEADER = "host_organisation;title_en;title_fi;trade;country;city;windows;languages;min_days;status\r\n"


class Suite(runner.BrowserSuite):
    def setup(self):
        self.a = self.fed.add("Lapland Vocational College", "FI").start()
        self.org = create_organisation(self.a, "Tornio Steel Oy", "FI", "large_enterprise", "Tornio")["id"]
        self.d = Dashboard(self.a)
        self.browsers.append(self.d)
        self.d.sign_in_with_token()
        self.d.view("placements")

    def sheet(self, name, text):
        path = os.path.join(self.fed.root, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return path

    def choose(self, kind, path):
        """Import CSV, then the file: what the picker gets from the user."""
        d = self.d
        d.js("const p = document.getElementById('csv-picker'); p.dataset.kind = arguments[0]; p.hidden = false;", kind)
        d.d.find_element(By.ID, "csv-picker").send_keys(path)
        d.js("document.getElementById('csv-picker').hidden = true")

    def banner(self):
        return self.d.js("const e = document.getElementById('error'); return e.hidden ? '' : e.textContent")

    def test_a_sheet_imports_whole_or_not_at_all_and_a_copy_is_refused(self):
        d, a = self.d, self.a
        before = record_count(a, "placement")
        good = self.sheet("hitsaus.csv", "\ufeff" + HEADER +
                          f'{self.org};Welder;Hitsaaja;welding;FI;Tornio;"1.3.2027:12.03.2027:2";fi:B1;10;open\r\n'
                          f'{self.org};Fitter;Asentaja;fitting;FI;Tornio;2027-04-05:2027-04-16:1;;;open\r\n'
                          ";;;;;;;;;\r\n")
        self.choose("placements", good)
        d.wait("the import", lambda _: record_count(a, "placement") == before + 2)
        d.wait("the announcement", lambda x: "Imported 2 records from hitsaus.csv" in
               x.find_element(By.ID, "announcer").text)
        _, page = a.api("GET", "/api/v1/placements?trade=welding", expect=200)
        [welder] = page["items"]
        assert [(w["start"], w["end"]) for w in welder["windows"]] == [("2027-03-01", "2027-03-12")], welder
        d.wait("the new placements listed", lambda _: len(d.row_ids()) == before + 2)

        bad = self.sheet("bad.csv", HEADER +
                         f"{self.org};Painter;;painting;FI;Tornio;2027-05-03:2027-05-14:1;;;open\r\n"
                         f"{self.org};Roofer;;roofing;FI;Tornio;2027-05-03:2027-05-14:many;;;open\r\n"
                         f"{self.org};Mason;;masonry;XX;Tornio;2027-05-03:2027-05-14:1;;;open\r\n")
        self.choose("placements", bad)
        d.wait("the refusal", lambda _: self.banner().startswith("Nothing was imported from bad.csv:"))
        text = self.banner()
        assert "line 3: column windows: '2027-05-03:2027-05-14:many' is not START:END:CAPACITY" in text, text
        assert "line 2" not in text, text
        assert record_count(a, "placement") == before + 2
        # The form is right now; the node finds the country on line 4.
        with open(bad, encoding="utf-8") as f:
            fixed = self.sheet("bad2.csv", f.read().replace(":many;", ":1;"))
        self.choose("placements", fixed)
        d.wait("the node's refusal", lambda _: "bad2.csv" in self.banner())
        assert "line 4: " in self.banner() and "XX" in self.banner(), self.banner()
        assert record_count(a, "placement") == before + 2

        # Download CSV, imported back into the node it came from: copies.
        d.d.find_element(By.ID, "placements-csv").click()
        d.wait("the sheet", lambda _: d.js("return window.conect.csv && window.conect.csv.kind === 'placements'"))
        export = self.sheet("export.csv", d.js("return window.conect.csv.text"))
        self.choose("placements", export)
        d.wait("the copies refused", lambda _: "export.csv" in self.banner())
        assert "line 2: id " in self.banner() and "already holds" in self.banner(), self.banner()
        assert record_count(a, "placement") == before + 2
        d.shot("sheet-refused")

    def test_personal_data_needs_an_audience_in_the_readers_words(self):
        d, a = self.d, self.a
        Select(d.d.find_element(By.ID, "lang-select")).select_by_value("fi")
        try:
            d.wait("Finnish labels", lambda x: x.find_element(By.ID, "tab-placements").text == "Harjoittelupaikat")
            d.view("contacts")
            before = record_count(a, "contact")
            header = "organisation,display_name,roles,audience,name,phone\r\n"
            sheet = self.sheet("yhteyshenkilot.csv", header +
                               f"{self.org},Työpaikkaohjaaja,mentor,,Matti Virtanen,+358 40 123 4567\r\n")
            self.choose("contacts", sheet)
            d.wait("the refusal", lambda _: self.banner().startswith("Tiedostosta yhteyshenkilot.csv ei tuotu mitään:"))
            assert "rivi 2: sarake audience on tyhjä" in self.banner(), self.banner()
            assert record_count(a, "contact") == before
            self.choose("contacts", self.sheet("yhteyshenkilot2.csv", header +
                                               f"{self.org},Työpaikkaohjaaja,mentor,local,Matti Virtanen,"
                                               "+358 40 123 4567\r\n"))
            d.wait("the import", lambda _: record_count(a, "contact") == before + 1)
            _, page = a.api("GET", "/api/v1/contacts", expect=200)
            [mentor] = [c for c in page["items"] if c["display_name"] == "Työpaikkaohjaaja"]
            assert mentor["audience"]["kind"] == "local", mentor
            assert mentor["personal_data"]["phone"] == "+358401234567", mentor
        finally:
            Select(d.d.find_element(By.ID, "lang-select")).select_by_value("en")


def main():
    return runner.run(Suite())


if __name__ == "__main__":
    sys.exit(main())
