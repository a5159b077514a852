"""CSV import and export as a coordinator uses them with a spreadsheet: a
round trip keeps Cyrillic and Nordic letters, a bad row in the middle imports
nothing and names its line, a wrong column is a usage error."""
import csv
import io
import json
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
        # -o writes the same sheet to a file, and never over one that exists
        # (a sheet edited since the last export) unless told to.
        out_path = self.write("edited.csv", "my edits\n")
        p = cli("export", "placements", "-o", out_path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("already exists; refusing to overwrite it (pass --force", p.stderr)
        with open(out_path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "my edits\n")
        cli("export", "placements", "-o", out_path, "--force", data=self.node.data)
        with open(out_path, encoding="utf-8") as f:
            self.assertEqual(f.read(), exported)
        # Imported again into the node it came from, every row would be a
        # second copy of a record it holds: refused, naming the lines.
        again = self.write("again.csv", exported)
        p = cli("import", "placements", again, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"line 2: id {rows[0]['id']} is a record this node already holds", p.stderr)
        self.assertIn("empty the id cell to import a copy on purpose", p.stderr)
        self.assertEqual(record_count(self.node, "placement"), before + 2)
        # With the ids emptied it imports as copies (ids are minted anew).
        copies = self.write("copies.csv", "\ufeff" + "".join(
            "," + line.split(",", 1)[1] + "\n" if i else line + "\n"
            for i, line in enumerate(exported.lstrip("\ufeff").splitlines())))
        cli("import", "placements", copies, data=self.node.data)
        self.assertEqual(record_count(self.node, "placement"), before + 2 + len(rows))

    def test_a_sheet_saved_with_semicolons_imports(self):
        # What Excel and LibreOffice save as "CSV" in Finnish, Swedish,
        # Norwegian and Russian settings: semicolons between the columns, so a
        # cell holding a list (itself ;-separated) is quoted.
        before = record_count(self.node, "placement")
        path = self.write("semicolons.csv", "\ufeff" + HEADER.replace(",", ";") +
                          f'{self.org};"Bricklayer; trainee";Каменщик;masonry;RU;Мурманск;'
                          '"2027-03-01:2027-03-12:3;2027-04-05:2027-04-16:2";"en:B1;ru:A2";ppe;10;open\r\n')
        cli("import", "placements", path, data=self.node.data)
        self.assertEqual(record_count(self.node, "placement"), before + 1)
        exported = cli("export", "placements", data=self.node.data).stdout
        rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
        [brick] = [r for r in rows if r["title_en"] == "Bricklayer; trainee"]
        self.assertEqual(brick["windows"], "2027-03-01:2027-03-12:3;2027-04-05:2027-04-16:2")
        # Such a spreadsheet writes dates day first (1.3.2027, 01.03.2027),
        # and a row whose cells were cleared as separators only.
        nordic = self.write("nordic.csv", "\ufeff" + HEADER.replace(",", ";") +
                            f'{self.org};Roofer;Кровельщик;roofing;RU;Мурманск;'
                            '"1.3.2027:12.03.2027:2";"en:B1";ppe;10;open\r\n;;;;;;;;;;\r\n;;;;;;;;;;\r\n')
        cli("import", "placements", nordic, data=self.node.data)
        rows = list(csv.DictReader(io.StringIO(cli("export", "placements", data=self.node.data).stdout.lstrip("\ufeff"))))
        [roofer] = [r for r in rows if r["title_en"] == "Roofer"]
        self.assertEqual(roofer["windows"], "2027-03-01:2027-03-12:2")
        self.assertEqual(brick["languages"], "en:B1;ru:A2")

    def test_bad_row_in_the_middle_imports_nothing(self):
        before = record_count(self.node, "placement")
        path = self.write("bad.csv", HEADER +
                          f"{self.org},Ok one,,carpentry,RU,Murmansk,2027-03-01:2027-03-12:1,,,,open\n"
                          f"{self.org},Bad date,,carpentry,RU,Murmansk,2026-02-30:2026-03-12:1,,,,open\n"
                          f"{self.org},Bad country,,carpentry,XX,Murmansk,2027-03-01:2027-03-12:1,,,,open\n"
                          f"{self.org},Ok two,,carpentry,RU,Murmansk,2027-03-01:2027-03-12:1,,,,open\n")
        p = cli("import", "placements", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2)
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
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 2: min_days: 'ten' is not a whole number", p.stderr)
        self.assertEqual(record_count(self.node, "placement"), before)

    def test_unknown_column_is_a_usage_error(self):
        path = self.write("cols.csv", "host,title_en\nx,y\n")
        p = cli("import", "placements", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown column 'host'", p.stderr)

    def test_a_column_twice_is_a_usage_error(self):
        # One of the two would be dropped without a word.
        path = self.write("twice.csv", f"organisation,display_name,notes,notes\n{self.org},a,first,second\n")
        before = record_count(self.node, "contact")
        p = cli("import", "contacts", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("column 'notes' appears twice (columns 3 and 4); keep one", p.stderr)
        self.assertEqual(record_count(self.node, "contact"), before)

    def test_the_nodes_refusals_name_the_sheets_column(self):
        # The node speaks of its JSON ("personal_data.email"); the user reads
        # the sheet's column names, which differ for mobilities.
        company = create_organisation(self.node, "Кольская верфь", "RU", "large_enterprise", "Murmansk")["id"]
        header = "sending_organisation,receiving_organisation,pseudonym,type,category,languages,participant_email\n"
        path = self.write("mob-columns.csv", header +
                          f"{self.org},{company},RU-11,learner_otj_company,ivet_learner,ru:C2,ok@example.ru\n"
                          f"{self.org},{company},,learner_otj_company,ivet_learner,,\n"
                          f"{self.org},{company},RU-13,learner_otj_company,ivet_learner,,not-an-address\n"
                          f"{self.org},{company},RU-14,learner_otj_company,ivet_learner,ru:Z9,\n"
                          f"{self.org},{company},RU-15,learner_otj_company,ivet_learner,fi:C2;fi:B1,\n")
        before = record_count(self.node, "mobility")
        p = cli("import", "mobilities", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 3: column pseudonym (fixed.participant.pseudonym): required", p.stderr)
        self.assertIn('line 4: column participant_email (personal_data.email): "not-an-address" is not an e-mail',
                      p.stderr)
        self.assertIn('line 5: column languages (sending.languages[0].level): "Z9"', p.stderr)
        self.assertIn("line 6: column languages (sending.languages[1].lang): 'fi' is given twice", p.stderr)
        self.assertEqual(record_count(self.node, "mobility"), before)
        # Where the node's name is the column's, it stays as it was.
        bad = self.write("contacts-roles.csv", f"organisation,display_name,roles\n{self.org},x,coordinator\n")
        p = cli("import", "contacts", bad, data=self.node.data, check=False)
        self.assertIn('line 2: roles[0]: "coordinator" is not one of', p.stderr)

    def test_broken_quoting_names_the_line(self):
        path = self.write("quote.csv", HEADER + f'{self.org},"never closed,carpentry\n')
        p = cli("import", "placements", path, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 2: a quoted field is never closed", p.stderr)

    def test_mobilities_import_all_or_nothing_and_round_trip(self):
        company = create_organisation(self.node, "Мурманская верфь", "RU", "large_enterprise", "Murmansk")["id"]
        header = ("sending_organisation,receiving_organisation,pseudonym,type,category,planned_start,planned_end,"
                  "qualification_title,eqf_level,languages,participant_name,participant_birth_date\n")
        bad = self.write("mob-bad.csv", header +
                         f"{self.org},{company},RU-01,learner_otj_company,ivet_learner,2027-03-01,2027-03-12,"
                         "Сварщик,4,ru:C2,Иван Петров,2008-01-31\n"
                         f"{self.org},{company},RU-02,learner_otj_company,ivet_learner,2027-03-01,2027-03-12,"
                         "Сварщик,four,ru:C2,,\n"
                         f"{self.org},{company},RU-03,cruise,ivet_learner,2027-03-01,2027-03-12,Сварщик,4,,,\n")
        before = record_count(self.node, "mobility")
        p = cli("import", "mobilities", bad, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 3: eqf_level: 'four' is not a whole number", p.stderr)
        self.assertEqual(record_count(self.node, "mobility"), before)
        # Form is fine now; the node finds the unknown type on line 4.
        with open(bad, encoding="utf-8") as f:
            fixed = self.write("mob-bad2.csv", f.read().replace(",four,", ",4,"))
        p = cli("import", "mobilities", fixed, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 4:", p.stderr)
        self.assertIn("cruise", p.stderr)
        self.assertEqual(record_count(self.node, "mobility"), before)

        good = self.write("mob-good.csv", "\ufeff" + header +
                          f"{self.org},{company},RU-01,learner_otj_company,ivet_learner,2027-03-01,2027-03-12,"
                          "Сварщик,4,ru:C2;en:A2,Иван Петров,2008-01-31\r\n"
                          f"{self.org},{company},RU-02,teacher_exchange,teacher,2027-04-05,2027-04-09,,,,,\r\n")
        out = json.loads(cli("import", "mobilities", good, "--json", data=self.node.data).stdout)
        self.assertEqual(out["imported"], 2)
        self.assertEqual(record_count(self.node, "mobility"), before + 2)
        _, m = self.node.api("GET", "/api/v1/mobilities/" + out["ids"][0], expect=200)
        self.assertEqual(m["personal_data"]["name"], "Иван Петров")
        # Languages are a set: the node keeps them in a canonical order.
        self.assertEqual(m["sending"]["languages"], [{"lang": "en", "level": "A2"}, {"lang": "ru", "level": "C2"}])

        plain = cli("export", "mobilities", data=self.node.data).stdout.lstrip("\ufeff")
        self.assertNotIn("Иван", plain, "personal data is exported only on request")
        full = cli("export", "mobilities", "--personal-data", data=self.node.data).stdout.lstrip("\ufeff")
        rows = {r["pseudonym"]: r for r in csv.DictReader(io.StringIO(full))}
        self.assertEqual(rows["RU-01"]["participant_name"], "Иван Петров")
        self.assertEqual(rows["RU-01"]["languages"], "en:A2;ru:C2")
        self.assertEqual(rows["RU-01"]["status"], "draft")
        # The export imported into another node as it is (host_status is
        # empty: nobody answered yet); this node holds its records already.
        again = self.write("mob-again.csv", full)
        p = cli("import", "mobilities", again, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("is a record this node already holds", p.stderr)
        self.assertEqual(record_count(self.node, "mobility"), before + 2)
        other = self.fed.add("Kandalaksha College", "RU")
        other.start()
        other_org = create_organisation(other, "Kandalaksha College", "RU", "vet_school", "Kandalaksha")["id"]
        other_company = create_organisation(other, "Мурманская верфь", "RU", "large_enterprise", "Murmansk")["id"]
        moved = self.write("mob-moved.csv", full.replace(self.org, other_org).replace(company, other_company))
        out = json.loads(cli("import", "mobilities", moved, "--json", data=other.data).stdout)
        self.assertEqual(out["imported"], len(rows))

    def test_contacts_import(self):
        header = "organisation,display_name,roles,languages,name,email,phone\n"
        rows = (f"{self.org},Мастер участка,mentor;supervisor,ru:C2,Ольга,olga@example.ru,+7 900 123-45-67\n"
                f'{self.org},"Coordinator, Murmansk",mobility_coordinator,en:B2,,,\n')
        before = record_count(self.node, "contact")
        # Personal data with no audience: the sheet must say who may read it
        # (the node's default, every member, shared a "this node only"
        # contact once its export was imported again).
        p = cli("import", "contacts", self.write("contacts-open.csv", header + rows), data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("line 2: column audience: empty, but the row has personal data", p.stderr)
        self.assertNotIn("line 3", p.stderr)  # no personal data: no audience needed
        self.assertEqual(record_count(self.node, "contact"), before)
        path = self.write("contacts.csv", header.replace("languages,", "languages,audience,") +
                          rows.replace("ru:C2,", "ru:C2,local,").replace("en:B2,", "en:B2,,"))
        cli("import", "contacts", path, data=self.node.data)
        self.assertEqual(record_count(self.node, "contact"), before + 2)
        rows = list(csv.DictReader(io.StringIO(
            cli("export", "contacts", "--personal-data", data=self.node.data).stdout.lstrip("\ufeff"))))
        olga = next(r for r in rows if r["display_name"] == "Мастер участка")
        self.assertEqual(olga["roles"], "mentor;supervisor")
        self.assertEqual(olga["phone"], "+79001234567", "kept in E.164 form as typed")
        self.assertEqual(olga["audience"], "local", "the audience goes out with the sheet and back in")
        coordinator = next(r for r in rows if r["display_name"] == "Coordinator, Murmansk")
        self.assertEqual(coordinator["audience"], "federation")
        bad = self.write("contacts-bad.csv", "organisation,display_name,audience,phone\n"
                         f"{self.org},ok,,\n{self.org},bad phone,local,0401234567\n")
        p = cli("import", "contacts", bad, data=self.node.data, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 3:", p.stderr)
        self.assertIn("E.164", p.stderr)
        self.assertEqual(record_count(self.node, "contact"), before + 2)

    def test_export_mobilities_and_contacts_have_headers(self):
        for kind, first in (("mobilities", "id,sending_organisation"), ("contacts", "id,organisation")):
            out = cli("export", kind, data=self.node.data).stdout.lstrip("\ufeff")
            self.assertTrue(out.startswith(first), out[:80])


if __name__ == "__main__":
    unittest.main(verbosity=2)
