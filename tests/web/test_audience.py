"""The audience editor of contacts (DESIGN §5, docs/dashboard.md "Contacts"),
in headless Chromium against real conect-node processes.

Three schools (A in Finland, B in Sweden, C in Norway) and an auditor sync
on loopback. In A's dashboard a contact is added for "only this node", then
widened to a chosen member (B) and then to the whole federation; after each
step A's API shows the new audience and the personal data reaches exactly
the members named in the confirmation. Declining the confirmation writes
nothing (A's digest is unchanged); a narrowing is not offered, and when
forced anyway the node's refusal is shown in plain words. B's dashboard
shows A's audience read-only, in the reader's language. Exit status as test_dashboard.py (77: no
browser).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import browser  # noqa: E402
import runner  # noqa: E402

browser.exit_unless_available()

from selenium.webdriver.support.ui import Select  # noqa: E402

from harness import wait_until  # noqa: E402
from test_dashboard import org, placement, wait_synced  # noqa: E402
from test_workflow import Flow, api_list, lang_string  # noqa: E402

DIALOG = "#form-dialog-body"


def audience(node, cid):
    """The contact's audience as the node's API gives it, members as a set."""
    _, c = node.api("GET", f"/api/v1/contacts/{cid}", expect=200)
    a = c["audience"]
    return a["kind"], set(a.get("members") or [])


def pd_status(node, cid):
    status, c = node.api("GET", f"/api/v1/contacts/{cid}")
    return c.get("personal_data_status") if status == 200 else None


class Suite(runner.BrowserSuite):
    def setup(self):
        fed = self.fed
        self.a = fed.add("Lapland Vocational College", "FI")
        self.b = fed.add("Norrbotten Upper Secondary", "SE")
        self.c = fed.add("Finnmark Upper Secondary", "NO")
        self.auditor = fed.add("Nordic Mobility Auditor", "FI", role="auditor")
        fed.trust_all()
        for n in fed.nodes:
            n.start()
        for i, x in enumerate(fed.nodes):
            for y in fed.nodes[i + 1:]:
                x.dial(y)
        self.org_a = org(self.a, "Lapland Vocational College", "FI", "Rovaniemi")
        wait_synced(fed, fed.nodes)
        self.da = self.dashboard(self.a)
        self.cid = None

    def dashboard(self, node):
        d = Flow(node)
        self.browsers.append(d)
        d.sign_in_with_token()
        return d

    # ------------------------------------------------------------ helpers
    def dialog_open(self, d):
        return d.js("return document.getElementById('form-dialog').open")

    def confirm_open(self, d):
        return d.js("return document.getElementById('confirm-dialog').open")

    def open_editor(self):
        d = self.da
        d.click(f'#contact-table button[data-audience="{self.cid}"]', "the contact's audience button")
        d.wait("the audience dialog", lambda _: self.dialog_open(d) and d.css(f"{DIALOG} fieldset.audience"))

    def radio(self, kind):
        return self.da.one(f'{DIALOG} input[name=audience_kind][value="{kind}"]')

    def member_box(self, node):
        return self.da.one(f'{DIALOG} input[name=audience_member][value="{node.node_id}"]')

    def choosable(self):
        return set(self.da.js("return [...document.querySelectorAll('#form-dialog-body input[name=audience_member]')]"
                              ".map(e => e.value)"))

    def submit_until_confirm(self):
        d = self.da
        d.one("#form-dialog-ok").click()
        d.wait("the confirmation before widening", lambda _: self.confirm_open(d))
        return d.text("#confirm-text")

    def row_audience(self, d, cid):
        return d.js("const c = document.querySelector(`#contact-table tr[data-id='${arguments[0]}'] td.audience`);"
                    "return c && [c.dataset.kind, c.innerText]", cid)

    # ------------------------------------------------------------- tests
    def test_a_contact_added_for_only_this_node(self):
        d = self.da
        d.view("contacts")
        d.click("#contact-new", "Add a contact")
        d.wait("the contact dialog", lambda _: self.dialog_open(d) and d.css(f"{DIALOG} fieldset.audience"))
        # Every choice is offered when adding; the checklist names the other
        # schools, never this node or the auditor (auditors are in no audience).
        for kind in ("federation", "members", "local"):
            assert self.radio(kind).is_enabled(), kind
        assert self.radio("federation").is_selected(), "federation is the default"
        assert self.choosable() == {self.b.node_id, self.c.node_id}, self.choosable()
        assert d.js("return document.querySelector('#form-dialog-body .audience-members').hidden"), \
            "the checklist shows only for chosen members"
        d.one(f"{DIALOG} input[name=display_name]").send_keys("International coordinator")
        d.one(f"{DIALOG} input[name=name]").send_keys("Aino Esimerkki")
        d.one(f"{DIALOG} input[name=email]").send_keys("aino@example.fi")
        self.radio("local").click()
        d.one("#form-dialog-ok").click()
        d.wait("the dialog to close", lambda _: not self.dialog_open(d))
        mine = [c for c in api_list(self.a, "/api/v1/contacts") if c["display_name"] == "International coordinator"]
        assert len(mine) == 1, mine
        self.cid = mine[0]["id"]
        assert audience(self.a, self.cid) == ("local", set()), audience(self.a, self.cid)
        d.wait("the row's audience", lambda _: self.row_audience(d, self.cid) == ["local", lang_string("en", "audience_local")])
        wait_until("the contact at B", lambda: pd_status(self.b, self.cid) == "not_shared_with_this_node", timeout=60)

    def test_b_declining_the_confirmation_writes_nothing(self):
        d = self.da
        digest = self.a.digest()
        self.open_editor()
        self.radio("members").click()
        self.member_box(self.b).click()
        text = self.submit_until_confirm()
        assert self.b.name in text and self.c.name not in text, text
        d.one("#confirm-cancel").click()
        d.wait("both dialogs to close", lambda _: not self.confirm_open(d) and not self.dialog_open(d))
        assert audience(self.a, self.cid) == ("local", set())
        assert self.a.digest() == digest, "a declined widening wrote something"
        assert self.row_audience(d, self.cid)[0] == "local"

    def test_c_widened_to_a_chosen_member(self):
        d = self.da
        self.open_editor()
        assert d.js("return document.querySelector('#form-dialog-body .audience-reason').hidden"), \
            "nothing is narrower than only this node: no reason to show"
        self.radio("members").click()
        self.member_box(self.b).click()
        text = self.submit_until_confirm()
        assert self.b.name in text and self.c.name not in text, text
        d.one("#confirm-ok").click()
        d.wait("both dialogs to close", lambda _: not self.confirm_open(d) and not self.dialog_open(d))
        assert audience(self.a, self.cid) == ("members", {self.b.node_id}), audience(self.a, self.cid)
        d.wait("the row's audience", lambda _: (r := self.row_audience(d, self.cid)) and r[0] == "members"
               and self.b.name in r[1] and self.c.name not in r[1])
        # The confirmation named B: B receives the data, C does not.
        wait_until("the data at B", lambda: pd_status(self.b, self.cid) == "held", timeout=60)
        assert pd_status(self.c, self.cid) == "not_shared_with_this_node"

    def test_d_a_narrowing_is_not_offered_and_refused_with_the_reason(self):
        d = self.da
        self.open_editor()
        assert not self.radio("local").is_enabled(), "only this node would leave B out"
        assert self.radio("members").is_enabled() and self.radio("federation").is_enabled()
        b = self.member_box(self.b)
        assert b.is_selected() and not b.is_enabled(), "B received the data: it stays listed"
        assert self.member_box(self.c).is_enabled()
        reason = d.one(f"{DIALOG} .audience-reason")
        assert reason.is_displayed() and reason.text == lang_string("en", "audience_only_widens"), reason.text
        d.doc_shot("contact-audience")  # docs/img with CONECT_WEB_DOC_IMAGES=docs/img
        # Forced anyway (the disabled choice enabled by hand): the node
        # refuses it, and its reason is shown; nothing changes.
        digest = self.a.digest()
        d.js("const r = document.querySelector('#form-dialog-body input[name=audience_kind][value=local]');"
             "r.disabled = false; r.click();")
        d.one("#form-dialog-ok").click()
        d.wait("the node's refusal", lambda _: d.js("return !document.getElementById('form-dialog-error').hidden"))
        err = d.text("#form-dialog-error")
        assert "only widens" in err and "erase" in err, err
        assert not self.confirm_open(d), "a narrowing is not confirmed as a widening"
        assert audience(self.a, self.cid) == ("members", {self.b.node_id})
        assert self.a.digest() == digest
        d.one("#form-dialog-cancel").click()
        d.wait("the dialog to close", lambda _: not self.dialog_open(d))

    def test_e_widened_to_the_federation(self):
        d = self.da
        self.open_editor()
        self.radio("federation").click()
        text = self.submit_until_confirm()
        # C is the one newly added; the auditor never receives personal data.
        assert self.c.name in text and self.auditor.name not in text, text
        assert lang_string("en", "audience_confirm_later") in text, text
        d.one("#confirm-ok").click()
        d.wait("both dialogs to close", lambda _: not self.confirm_open(d) and not self.dialog_open(d))
        assert audience(self.a, self.cid)[0] == "federation", audience(self.a, self.cid)
        d.wait("the row's audience", lambda _: self.row_audience(d, self.cid) == ["federation", lang_string("en", "audience_federation")])
        wait_until("the data at C", lambda: pd_status(self.c, self.cid) == "held", timeout=60)
        assert pd_status(self.auditor, self.cid) == "not_shared_with_this_node"
        # Nothing is wider now: the other choices are disabled, with the reason.
        self.open_editor()
        assert not self.radio("local").is_enabled() and not self.radio("members").is_enabled()
        assert d.one(f"{DIALOG} .audience-reason").is_displayed()
        d.one("#form-dialog-cancel").click()
        d.wait("the dialog to close", lambda _: not self.dialog_open(d))

    def test_f_another_nodes_contact_shows_its_audience_read_only(self):
        wait_synced(self.fed, self.fed.nodes)
        db = self.dashboard(self.b)
        db.view("contacts")
        db.wait("A's contact at B", lambda _: self.row_audience(db, self.cid) == ["federation", lang_string("en", "audience_federation")])
        assert not db.css(f'#contact-table button[data-audience="{self.cid}"]'), "only the owner widens"
        assert db.attr(f"#contact-table tr[data-id='{self.cid}'] td.audience", "title") == lang_string("en", "audience_read_only")
        db.shot("contact-audience-read-only")
        # In another language, the same audience in its words.
        Select(db.one("#lang-select")).select_by_value("fi")
        db.wait("the audience in Finnish", lambda _: self.row_audience(db, self.cid) == ["federation", lang_string("fi", "audience_federation")])
        Select(db.one("#lang-select")).select_by_value("en")
        assert not db.css(f'#contact-table button[data-erase="{self.cid}"]'), "only the owner erases"

    def test_g_the_owner_erases_the_personal_data_from_the_row(self):
        # The audience editor says erasing is the only way to take the data
        # back: the way is on the same row, as `conect-node erase ID`.
        d = self.da
        d.view("contacts")
        button = f'#contact-table button[data-erase="{self.cid}"]'
        d.wait("the erase button on A's own contact", lambda _: d.css(button))
        digest = self.a.digest()
        d.click(button, "Erase personal data")
        d.wait("the confirmation", lambda _: self.confirm_open(d))
        assert "International coordinator" in d.text("#confirm-text"), d.text("#confirm-text")
        d.one("#confirm-cancel").click()
        d.wait("the confirmation to close", lambda _: not self.confirm_open(d))
        assert self.a.digest() == digest, "a declined erasure wrote something"
        assert pd_status(self.a, self.cid) == "held"
        d.click(button, "Erase personal data")
        d.wait("the confirmation", lambda _: self.confirm_open(d))
        d.one("#confirm-ok").click()
        d.wait("the row to say erased", lambda _: d.js(
            "const r = document.querySelector(`#contact-table tr[data-id='${arguments[0]}'] td.reach [data-status]`);"
            "return r && r.dataset.status", self.cid) == "erased")
        assert not d.css(button), "nothing left to erase: no button"
        assert d.js("return document.getElementById('contact-error').hidden")
        for n in (self.a, self.b, self.c):
            wait_until(f"the erasure at {n.name}", lambda n=n: pd_status(n, self.cid) == "erased", timeout=60)


    def test_h_an_auditors_dashboard_offers_no_write_and_says_why(self):
        # The auditor's node authors nothing: its dashboard offered every
        # write (Add ..., Request, Rotate), and each was refused with "only
        # the organisation that owns these fields may write them".
        pid = placement(self.a, self.org_a, "welding", "FI", "Rovaniemi", [("2027-03-01", "2027-03-14", 2)],
                        [("en", "Welding")], [("fi", "B1")])
        wait_synced(self.fed, self.fed.nodes)
        d = self.dashboard(self.auditor)
        assert d.one("#auditor-note").is_displayed()
        assert d.text("#auditor-note") == lang_string("en", "auditor_note")
        d.view("placements")
        d.wait("A's placement at the auditor", lambda _: d.css(f'#placements-body tr[data-id="{pid}"]'))
        assert not d.css("#placements-body button[data-window]"), "an auditor requests no slots"
        for view, button in (("placements", "#placement-new"), ("mobilities", "#mob-new"),
                             ("contacts", "#contact-new"), ("organisations", "#org-new"),
                             ("federation", "#members-rotate"), ("federation", "#members-leave")):
            d.view(view)
            assert not d.one(button).is_displayed(), button
        # Forced anyway, the refusal says it is an auditor's node.
        d.view("organisations")
        d.js("document.body.classList.remove('auditor-node')")
        d.click("#org-new", "Add an organisation")
        d.wait("the dialog", lambda _: self.dialog_open(d))
        d.one(f"{DIALOG} input[name=name]").send_keys("Audit Office")
        d.js("document.body.classList.add('auditor-node')")
        d.one("#form-dialog-ok").click()
        d.wait("the node's refusal", lambda _: d.js("return !document.getElementById('form-dialog-error').hidden"))
        err = d.text("#form-dialog-error")
        assert err.startswith(lang_string("en", "refused_auditor").split("{")[0]) and "auditors author nothing" in err, err
        d.one("#form-dialog-cancel").click()
        # A restored node's refusal names the restore, not ownership.
        said = self.da.js("return import('/js/ui.js').then((m) => m.plainError({code: 'not_authorised', detail: "
                          "'restored from a backup: writes wait until this node has fetched its own chain back from a connected peer'}))")
        assert said.startswith(lang_string("en", "refused_fenced").split("{")[0]), said

def main():
    # Each step builds on the contact of the first.
    return runner.run(Suite(), stop_after_failing=tuple(n for n in Suite.__dict__ if n.startswith("test_")))


if __name__ == "__main__":
    sys.exit(main())
