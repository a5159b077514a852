"""Votes to expel in the federation panel (docs/membership.md, docs/dashboard.md
"Federation"), in headless Chromium against real conect-node processes.

Two founders (A in Finland, B in Sweden) with admission quorum 2 admit a
third school (C, Norway) that joined with A's invite. A votes to expel C:
one vote of two removes nobody. B's panel shows C as admitted with "1 of 2
votes to expel" and offers Expel, asking first in words that say it is one
vote of two; A's panel says its own vote is among them and offers no second
vote (the node would refuse it). B's vote, given in the dashboard, removes C
on both nodes. Exit status as test_dashboard.py (77: no browser).
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

from harness import cli, wait_until  # noqa: E402
from test_dashboard import WAIT, Dashboard  # noqa: E402
from test_membership import invite, join, member_item, members, two_founders  # noqa: E402


class Suite(runner.BrowserSuite):
    def setup(self):
        fed = self.fed
        self.a, self.b = a, b = two_founders(fed, ("Lapland Vocational College", "FI"),
                                             ("Norrbotten Upper Secondary", "SE"))
        self.c = c = join(fed, "Finnmark Upper Secondary", "NO", invite(a))
        c.start()
        wait_until("A and B to list C pending", lambda: all(members(n).get(c.node_id) == "pending" for n in (a, b)),
                   timeout=WAIT)
        cli("member", "admit", c.node_id, data=b.data)
        for n in (a, b, c):
            wait_until(f"{n.name} to list C admitted", lambda n=n: members(n).get(c.node_id) == "admitted",
                       timeout=WAIT)

    def dashboard(self, node):
        d = Dashboard(node)
        self.browsers.append(d)
        d.sign_in_with_token()
        d.view("federation")
        return d

    def cell(self, d, node):
        return d.js("const c = document.querySelector(`#members-table tr[data-id='${arguments[0]}'] td.membership`);"
                    "return c ? [c.dataset.status, c.textContent] : null", node.node_id)

    def expel_button(self, d, node):
        return d.d.find_elements(By.CSS_SELECTOR, f"#members-table button[data-action='expel'][data-id='{node.node_id}']")

    def test_one_vote_of_two_is_shown_and_the_second_given_in_the_dashboard_removes(self):
        a, b, c = self.a, self.b, self.c
        a.api("POST", f"/api/v1/members/{c.node_id}/expel", {}, expect=201)
        wait_until("B to hold A's vote", lambda: member_item(b, c.node_id)["removal_votes"] == 1, timeout=WAIT)
        assert member_item(a, c.node_id)["removal_voted_by_self"] is True
        assert member_item(b, c.node_id)["removal_voted_by_self"] is False
        assert members(b)[c.node_id] == "admitted", "one vote of two removed C"

        da, db = self.dashboard(a), self.dashboard(b)
        da.wait("C with A's vote", lambda _: self.cell(da, c) is not None and "votes to expel" in self.cell(da, c)[1])
        assert self.cell(da, c) == ["admitted", "admitted · 1 of 2 votes to expel, this node’s among them"], \
            self.cell(da, c)
        assert not self.expel_button(da, c), "A is offered a second vote, which its node refuses"
        db.wait("C with one vote", lambda _: self.cell(db, c) is not None and "votes to expel" in self.cell(db, c)[1])
        assert self.cell(db, c) == ["admitted", "admitted · 1 of 2 votes to expel"], self.cell(db, c)
        assert self.expel_button(db, c) and self.expel_button(db, a), "B is not offered its vote"
        db.shot("federation-votes-to-expel")

        # Declined: nothing written. Confirmed: B's vote is the second, C is removed everywhere.
        seq = lambda: b.status()["version_vector"][b.node_id]["seq"]
        before = seq()
        db.js("window.__asked = []; window.confirm = (m) => { window.__asked.push(m); return false; };")
        self.expel_button(db, c)[0].click()
        asked = db.js("return window.__asked")
        assert asked == ["Vote to expel Finnmark Upper Secondary from the federation? It is expelled once 2 members "
                         "have voted (1 so far, not counting this vote); from then on nothing it writes counts on "
                         "any node. A vote cannot be taken back."], asked
        assert seq() == before
        db.js("window.confirm = (m) => { window.__asked.push(m); return true; };")
        self.expel_button(db, c)[0].click()
        result = lambda: db.js("const r = document.getElementById('members-result');"
                               "return r.hidden ? null : [r.dataset.action, r.dataset.outcome, r.textContent]")
        db.wait("the vote's result", lambda _: result() is not None)
        assert result()[:2] == ["expel", "done"], result()
        assert result()[2] == (f"This node’s vote to expel Finnmark Upper Secondary is written (delta {before + 1}): "
                               "2 of 2 votes."), result()
        for n in (a, b):
            wait_until(f"{n.name} to list C removed", lambda n=n: members(n).get(c.node_id) == "removed", timeout=WAIT)
        for d in (da, db):
            d.d.refresh()
            d.wait_ready()
            d.view("federation")
            d.wait("C shown removed", lambda _, d=d: (self.cell(d, c) or [None])[0] == "removed")
            assert not self.expel_button(d, c)
        # C itself learns it from the partners that refuse its link: every
        # page's sync strip says so (it went on writing in a bubble).
        dc = self.dashboard(c)
        dc.wait("C's strip to say it is refused",
                lambda _: dc.js("return !!document.querySelector('#sync-peers [data-refuses]')"))
        text = dc.js("return document.getElementById('sync-peers').textContent")
        assert "refuses this node: it was removed from the federation" in text, text


def main():
    return runner.run(Suite())


if __name__ == "__main__":
    sys.exit(main())
