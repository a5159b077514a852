"""CSV import and export as a coordinator uses them with a spreadsheet: a
round trip keeps Cyrillic and Nordic letters, a bad row in the middle imports
nothing and names its line, a wrong column is a usage error."""
import csv
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Federation, cli, create_organisation, record_count  # noqa: E402

HEADER = "host_organisation,title_en,title_ru,trade,country,city,windows,languages,safety,min_days,status\n"


class Csv(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fed = Federation()
        cls.node = cls.fed.add("Murmansk Construction College", "RU").start()
        cls.org = create_organisation(cls.node, "СеверСтрой", "RU", "large_enterprise", "Murmansk")["id"]

    @classmethod
    def tearDownClass(cls):
        cls.fed.close()

    def write(self, name, text):
        path = os.path.join(self.fed.root, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return path

    def test_round_trip_keeps_letters_and_quotes(self):
        before = record_count(self.node, "placement")
        path = self.write("good.csv", "\ufeff" + HEADER +
                          f'{self.org},"Bricklayer, trainee",Каменщик (практикант),masonry,RU,Мурманск,'
                          '2027-03-01:2027-03-12:3;2027-04-05:2027-04-16:2,en:B1;ru:A2,ppe;safety_induction,10,open\r\n'
                          f'{self.org},Road builder,Дорожный рабочий,road construction,RU,Apatity,2027-05-03:2027-05-14:1,'
                          'en:A2,ppe,,open\r\n')
        out = cli("import", "placements", path, "--json", data=self.node.data)
        self.assertIn('"imported":2', out.stdout.replace(" ", ""))
        self.assertEqual(record_count(self.node, "placement"), before + 2)
        exported = cli("export", "placements", data=self.node.data).stdout
        self.assertTrue(exported.startswith("\ufeff"), "a BOM so spreadsheets read UTF-8")
        rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
        by_title = {r["title_en"]: r for r in rows}
        brick = by_title["Bricklayer, trainee"]
        self.assertEqual(brick["title_ru"], "Каменщик (практикант)")
        self.assertEqual(brick["city"], "Мурманск")
        self.assertEqual(brick["windows"], "2027-03-01:2027-03-12:3;2027-04-05:2027-04-16:2")
        self.assertEqual(brick["languages"], "en:B1;ru:A2")
        # What was exported imports again unchanged (ids are minted anew).
        again = self.write("again.csv", exported)
        cli("import", "placements", again, data=self.node.data)
        self.assertEqual(record_count(self.node, "placement"), before + 2 + len(rows))

    def test_bad_row_in_the_middle_imports_nothing(self):
        before = record_count(self.node, "placement")
        path = self.write("bad.csv", HEADER +
                          f"{self.org},Ok one,,carpentry,RU,Murmansk,2027-03-01:2027-03-12:1,,,,open\n"
                          f"{self.org},Bad date,,carpentry,RU,Murmansk,2026-02-30:2026-03-12:1,,,,open\n"
                          f"{self.org},Bad country,,carpentry,XX,Murmansk,2027-03-01:2027-03-12:1,,,,open\n"
                          f"{self.org},Ok two,,carpentry,RU,Murmansk,2027-03-01:2027-03-12:1,,,,open\n")
        p = cli("import", "placements", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 3:", p.stderr)
        self.assertIn("2026-02-30", p.stderr)
        self.assertIn("line 4:", p.stderr)
        self.assertNotIn("line 2:", p.stderr)
        self.assertIn("nothing was imported", p.stderr)
        self.assertEqual(record_count(self.node, "placement"), before)

    def test_form_errors_are_found_before_sending(self):
        before = record_count(self.node, "placement")
        path = self.write("form.csv", HEADER + f"{self.org},X,,carpentry,RU,M,2027-03-01:2027-03-12,,,ten,open\n")
        p = cli("import", "placements", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 2: min_days: 'ten' is not a whole number", p.stderr)
        self.assertEqual(record_count(self.node, "placement"), before)

    def test_unknown_column_is_a_usage_error(self):
        path = self.write("cols.csv", "host,title_en\nx,y\n")
        p = cli("import", "placements", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown column 'host'", p.stderr)

    def test_broken_quoting_names_the_line(self):
        path = self.write("quote.csv", HEADER + f'{self.org},"never closed,carpentry\n')
        p = cli("import", "placements", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 2: a quoted field is never closed", p.stderr)

    def test_export_mobilities_and_contacts_have_headers(self):
        for kind, first in (("mobilities", "id,sending_organisation"), ("contacts", "id,organisation")):
            out = cli("export", kind, data=self.node.data).stdout.lstrip("\ufeff")
            self.assertTrue(out.startswith(first), out[:80])


if __name__ == "__main__":
    unittest.main(verbosity=2)
