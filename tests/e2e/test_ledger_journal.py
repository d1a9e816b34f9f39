# End-to-end: the ledger's journal (docs/tenancy.md, "Usage ledger"). A
# second tollgate on a journal in use is refused at start, saying why, and
# leaves the first one's journal alone; a ledger.journal_path naming a file
# that is not a journal (a note, the database, the config) is refused and
# the file left as it was. With ledger.flush_ms at its maximum, so that the
# rows of the answers are surely only in the journal, a SIGKILL and a
# restart put exactly those rows in the ledger, once each, before the
# restarted gateway is ready; the journal is empty after that. A journal
# path that cannot be one (a directory, a missing directory, a file it
# may not write, a device) and a journal and a spool that are one file
# (by name or a link) are refused at start, saying why. A journal
# removed under a running gateway: rows still reach the ledger, SIGTERM
# commits them, a restart makes a new one; a SIGKILL loses the rows only
# in the removed file. A reload that changes flush_ms, queue_size or
# journal_path warns and keeps the running journal.

import os
import subprocess

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, poll, provider,
                     run_tollgate, tenancy_sections, write_config)

FLUSH_MS = 10000   # the maximum: nothing reaches the table on its own during a test


class JournalTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()

    def config(self, db="t.db", port=None, **ledger):
        """A gateway on the store db in the workdir; ledger: more keys of
        the ledger section (journal_path, flush_ms)."""
        sections = tenancy_sections(self.workdir, allow_anonymous=True, db=db)
        sections["ledger"].update(ledger)
        return gateway_config(port or free_port(), [provider("mock", self.mock)],
                              [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])], **sections)

    def serve_refused(self, name, cfg):
        """`tollgate serve` on cfg, which must exit 1: its output."""
        path = os.path.join(self.workdir, name + ".yaml")
        write_config(path, cfg)
        try:
            p = run_tollgate("serve", "--config", path, env=ADMIN_ENV, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("%s: tollgate serve started (or hung) instead of refusing" % name)
        self.assertEqual(p.code, 1, "%s: %s%s" % (name, p.out, p.err))
        return p.out + p.err

    def send(self, tollgate, rids):
        for i, rid in enumerate(rids):
            body = {"model": "gpt-4o-mini", "max_tokens": 3 + i % 4, "stream": i % 2 == 1,
                    "messages": [{"role": "user", "content": "journal " + rid}]}
            r = tollgate.chat(body, {"X-Request-ID": rid})
            self.assertEqual(r.status, 200, r.body)
            if body["stream"]:
                self.assertTrue(r.body.rstrip().endswith(b"data: [DONE]"), r.body)

    def counts(self, tollgate):
        """request id -> its rows in the ledger table."""
        rows = tollgate.db("SELECT request_id, count(*) AS n FROM ledger GROUP BY request_id")
        return {r["request_id"]: r["n"] for r in rows}

    def recovered(self, tollgate):
        """The messages of the start's log line on rows a killed run left."""
        return [r["message"] for r in tollgate.log_records()
                if r.get("logger") == "ledger" and "previous run" in r.get("message", "")]

    def test_second_gateway_on_the_journal_is_refused(self):
        first_cfg = self.config()
        first = self.start_tollgate(first_cfg, ADMIN_ENV)
        self.send(first, ["first-0"])
        journal = first_cfg["store"]["path"] + ".journal"
        size = os.path.getsize(journal)
        why = "the ledger journal %s is in use by another tollgate" % journal
        # the whole config again (the usual mistake), then only the journal
        # named by a gateway with a store of its own
        self.assertIn(why, self.serve_refused("same-config", self.config()))
        self.assertIn(why, self.serve_refused("same-journal", self.config(db="other.db", journal_path=journal)))
        # the first one's journal is as it was, and in use: a truncated
        # mapping would have killed it at its next row
        self.assertEqual(os.path.getsize(journal), size)
        self.send(first, ["first-1"])
        self.assertTrue(poll(lambda: self.counts(first) == {"first-0": 1, "first-1": 1}, timeout=10),
                        self.counts(first))

    def test_journal_path_naming_another_file_is_refused(self):
        db = os.path.join(self.workdir, "kept.db")
        good = os.path.join(self.workdir, "good.yaml")
        write_config(good, self.config(db="kept.db"))
        self.assertEqual(run_tollgate("orgs", "create", "acme", "--config", good).code, 0)
        notes = os.path.join(self.workdir, "notes.txt")
        with open(notes, "w") as f:
            f.write("precious\n" * 100)
        db_link = os.path.join(self.workdir, "kept-link.db")
        os.symlink(db, db_link)
        for victim in (notes, db, db_link, good):
            with open(victim, "rb") as f:
                before = f.read()
            out = self.serve_refused("journal-is-" + os.path.splitext(os.path.basename(victim))[0],
                                     self.config(db="kept.db", journal_path=victim))
            # the database by its own name is refused by the config; by
            # another (a link), by what the file holds
            why = ("ledger.journal_path names the database (%s)" % db if victim == db else
                   "the ledger journal %s is not a journal of this tollgate" % victim)
            self.assertIn(why, out)
            with open(victim, "rb") as f:
                self.assertEqual(f.read(), before, victim)
        orgs = run_tollgate("orgs", "list", "--json", "--config", good)
        self.assertEqual([o["name"] for o in orgs.json()["data"]], ["acme"], orgs.out + orgs.err)

    def test_rows_of_a_killed_gateway_reach_the_ledger_once(self):
        port = free_port()
        cfg = self.config(db="killed.db", port=port, flush_ms=FLUSH_MS)
        t = self.start_tollgate(cfg, ADMIN_ENV)
        # rows committed before the kill: GET /admin/v1/usage moves the
        # journal's rows into the table first
        committed = ["before-%d" % i for i in range(3)]
        self.send(t, committed)
        usage = t.admin("GET", "/usage")
        self.assertEqual(usage.status, 200, usage.body)
        self.assertEqual(usage.json()["total"]["requests"], len(committed))
        self.assertEqual(self.counts(t), dict.fromkeys(committed, 1))
        # answered, then killed before the next flush: only in the journal
        journaled = ["killed-%d" % i for i in range(12)]
        self.send(t, journaled)
        self.assertEqual(self.counts(t), dict.fromkeys(committed, 1),
                         "rows reached the table before the kill: the test proves nothing")
        t.kill()

        # the restart moves them in before it is ready: no waiting
        t = self.start_tollgate(cfg, ADMIN_ENV)
        self.assertEqual(self.counts(t), dict.fromkeys(committed + journaled, 1))
        ids = t.db("SELECT count(*) AS n, count(DISTINCT id) AS d FROM ledger")[0]
        self.assertEqual((ids["n"], ids["d"]), (15, 15))
        rows = t.db("SELECT request_id, completion_tokens, status FROM ledger WHERE request_id LIKE 'killed-%'")
        self.assertEqual(sorted((r["request_id"], r["completion_tokens"], r["status"]) for r in rows),
                         sorted((rid, 3 + i % 4, 200) for i, rid in enumerate(journaled)))
        self.assertEqual(self.recovered(t), ["moved 12 rows a previous run left in the journal into the ledger"])
        self.assertEqual(t.metrics().value("tollgate_ledger_rows_written_total"), len(journaled))

        # the journal was emptied: another kill and restart add nothing
        t.kill()
        t = self.start_tollgate(cfg, ADMIN_ENV)
        self.assertEqual(self.counts(t), dict.fromkeys(committed + journaled, 1))
        self.assertEqual(self.recovered(t), [])
        self.assertEqual(t.db("PRAGMA integrity_check"), [{"integrity_check": "ok"}])

    def test_journal_path_that_cannot_be_a_journal_is_refused(self):
        # a directory, a missing directory, a file it may not write (a
        # mode of 0400 does not stop root: /proc/version does), a device
        adir = os.path.join(self.workdir, "a-directory")
        os.mkdir(adir)
        cases = [(adir, "cannot open the ledger journal %s: Is a directory" % adir),
                 (os.path.join(self.workdir, "missing", "j"),
                  "cannot open the ledger journal %s: No such file or directory"
                  % os.path.join(self.workdir, "missing", "j")),
                 ("/dev/null", "cannot make the ledger journal /dev/null")]
        if os.geteuid() != 0:
            readonly = os.path.join(self.workdir, "readonly.journal")
            open(readonly, "wb").close()
            os.chmod(readonly, 0o400)
            cases.append((readonly, "cannot open the ledger journal %s: Permission denied" % readonly))
        elif os.path.exists("/proc/version"):
            cases.append(("/proc/version", "the ledger journal /proc/version"))
        for n, (journal, why) in enumerate(cases):
            self.assertIn(why, self.serve_refused("unusable-%d" % n, self.config(db="unusable.db",
                                                                               journal_path=journal)))
        self.assertEqual(os.listdir(adir), [])

    def test_journal_and_spool_as_one_file_are_refused(self):
        # by name, and through a link: the journal's header would go into
        # the spool, and the spool's replay would truncate the journal
        # under its mapping (the gateway died of SIGBUS at its next row)
        spool = os.path.join(self.workdir, "one.db.spool")
        link = os.path.join(self.workdir, "one.journal")
        open(spool, "wb").close()
        os.symlink(spool, link)
        for name, journal in (("same-name", spool), ("a-link", link)):
            cfg = self.config(db="one.db", journal_path=journal)
            cfg["ledger"]["spool_path"] = spool
            out = self.serve_refused("journal-is-spool-" + name, cfg)
            # by name the config refuses it, through a link the start (by inode)
            why = ("ledger.journal_path and ledger.spool_path name the same file (%s)" % spool if journal == spool
                   else "ledger.journal_path %s and ledger.spool_path %s are the same file" % (journal, spool))
            self.assertIn(why, out)
            self.assertEqual(os.path.getsize(spool), 0, "the spool was written to")

    def test_removed_journal(self):
        """The journal removed under a running gateway: its mapping stays,
        rows still reach the ledger through it, SIGTERM commits them all,
        and a restart makes a new journal. Killed instead, the rows only in
        the removed file are lost with it (docs/tenancy.md, "Durability")."""
        cfg = self.config(db="removed.db")
        journal = cfg["store"]["path"] + ".journal"
        t = self.start_tollgate(cfg, ADMIN_ENV)
        self.send(t, ["kept-0", "kept-1"])
        os.unlink(journal)
        noticed = lambda: [r for r in t.log_records() if r.get("logger") == "ledger" and r.get("level") == "error"
                           and "%s was removed while in use" % journal in r.get("message", "")]
        self.assertTrue(poll(noticed, timeout=5), "the removal was not logged")
        self.send(t, ["kept-2", "kept-3"])
        self.assertTrue(poll(lambda: len(self.counts(t)) == 4, timeout=10), self.counts(t))
        self.assertFalse(os.path.exists(journal))
        self.send(t, ["kept-4"])  # in the mapping at the SIGTERM: the drain commits it
        t.signal(15)
        self.assertEqual(t.proc.wait(20), 0)
        t = self.start_tollgate(cfg, ADMIN_ENV)
        self.assertTrue(os.path.exists(journal))
        self.send(t, ["kept-5"])
        kept = {"kept-%d" % i: 1 for i in range(6)}
        self.assertTrue(poll(lambda: self.counts(t) == kept, timeout=10), self.counts(t))
        t.kill()

        # rows only in a removed journal at a SIGKILL: gone with the file
        cfg = self.config(db="removed.db", flush_ms=FLUSH_MS)
        t = self.start_tollgate(cfg, ADMIN_ENV)
        self.send(t, ["lost-0"])
        os.unlink(journal)
        self.send(t, ["lost-1"])
        t.kill()
        t = self.start_tollgate(cfg, ADMIN_ENV)
        self.assertEqual(self.counts(t), kept)
        self.assertEqual(self.recovered(t), [])

    def test_reload_keeps_the_journal(self):
        """ledger.flush_ms, queue_size and journal_path are read at start:
        a reload that changes them says so and keeps the running journal."""
        port = free_port()
        cfg = self.config(db="reload.db", port=port)
        journal = cfg["store"]["path"] + ".journal"
        t = self.start_tollgate(cfg, ADMIN_ENV)
        self.send(t, ["reload-0"])
        size = os.path.getsize(journal)
        moved = os.path.join(self.workdir, "moved.journal")

        def warnings():
            return len([r for r in t.log_records() if r.get("level") == "warn" and r.get("logger") == "config"
                        and "read at start only" in r.get("message", "")])

        def reload(new_cfg):
            done, warned = t.logs().count("configuration reloaded"), warnings()
            t.write_config(new_cfg)
            t.signal(1)  # SIGHUP
            self.assertTrue(poll(lambda: t.logs().count("configuration reloaded") > done, timeout=10))
            self.assertEqual(warnings(), warned + 1, new_cfg["ledger"])

        for change in ({"flush_ms": 500}, {"queue_size": 8}, {"journal_path": moved}):
            reload(self.config(db="reload.db", port=port, **change))
            reload(cfg)  # back: a change again, from the running one
        self.assertFalse(os.path.exists(moved))
        self.assertEqual(os.path.getsize(journal), size)
        self.send(t, ["reload-1"])
        self.assertTrue(poll(lambda: self.counts(t) == {"reload-0": 1, "reload-1": 1}, timeout=10), self.counts(t))

if __name__ == "__main__":
    harness.main()
