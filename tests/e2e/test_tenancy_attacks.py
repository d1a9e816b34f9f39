# End-to-end: tenancy (docs/tenancy.md) under attack and misuse. Each
# class is the regression test of a bug found by attacking the store, the
# ledger's spool, the admin API and the CLI: what a user or an attacker did,
# and what tollgate must do instead.

import os
import sqlite3
import subprocess
import threading
import time

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, poll, provider, run_tollgate,
                     tenancy_sections, write_config)


def store_config(workdir, db, spool=None):
    """A gateway config whose store is db (and spool, when given); its
    provider is never called."""
    sections = tenancy_sections(workdir)
    sections["store"]["path"] = db
    sections["ledger"]["spool_path"] = spool or db + ".spool"
    return gateway_config(free_port(), [{"name": "up", "base_url": "http://127.0.0.1:9/v1"}],
                          [model("m", [("up", "m")])], **sections)


class StoreStartFailureTest(GatewayTestCase):
    """A store that cannot be opened at start: `tollgate serve` says why and
    exits 1, at once and cleanly. (It used to free the metric registry and
    the health state under the running housekeeping thread: a
    use-after-free, and under ASan a process that hung for good.)"""

    def serve(self, name, cfg):
        path = os.path.join(self.workdir, name + ".yaml")
        write_config(path, cfg)
        try:
            return run_tollgate("serve", "--config", path, env=ADMIN_ENV, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("%s: tollgate serve did not exit" % name)

    def test_exits_1_when_the_store_cannot_be_opened(self):
        newer = os.path.join(self.workdir, "newer.db")
        with sqlite3.connect(newer) as conn:
            conn.execute("PRAGMA user_version = 99")
        garbage = os.path.join(self.workdir, "garbage.db")
        with open(garbage, "w") as f:
            f.write("not a database\n" * 200)
        cases = {"missing-dir": (os.path.join(self.workdir, "absent", "t.db"), "unable to open"),
                 "newer": (newer, "newer than this tollgate"),
                 "garbage": (garbage, "not a database")}
        for name, (db, why) in cases.items():
            for attempt in range(3):   # the housekeeping thread's race needs a few tries
                p = self.serve(name, store_config(self.workdir, db))
                self.assertEqual(p.code, 1, "%s: %r" % (name, p))
                self.assertIn("cannot open the store", p.out + p.err, name)
                self.assertIn(why, p.out + p.err, name)


class SpoolNotOursTest(GatewayTestCase):
    """ledger.spool_path naming a file that is not a spool (a typo naming
    the config, or the database itself): tollgate refuses to start and
    leaves the file as it was. (It used to read it as spooled rows, skip
    them all as unreadable and truncate the file to nothing: the config,
    or the whole database, gone.)"""

    def test_refuses_to_start_and_keeps_the_file(self):
        db = os.path.join(self.workdir, "t.db")
        cfg = store_config(self.workdir, db)
        cfg_path = os.path.join(self.workdir, "good.yaml")
        write_config(cfg_path, cfg)
        self.assertEqual(run_tollgate("orgs", "create", "acme", "--config", cfg_path).code, 0)
        other = os.path.join(self.workdir, "notes.txt")
        with open(other, "w") as f:
            f.write("precious\n" * 100)
        db_link = os.path.join(self.workdir, "t-link.db")
        os.symlink(db, db_link)
        for victim in (other, db, db_link):
            with open(victim, "rb") as f:
                before = f.read()
            path = os.path.join(self.workdir, "bad.yaml")
            write_config(path, store_config(self.workdir, db, spool=victim))
            p = run_tollgate("serve", "--config", path, env=ADMIN_ENV, timeout=20)
            self.assertEqual(p.code, 1, p)
            # the database by its own name is refused by the config; by
            # another (a link), by what the file holds
            self.assertIn("ledger.spool_path names the database" if victim == db else
                          "is not a spool of this tollgate", p.out + p.err)
            with open(victim, "rb") as f:
                self.assertEqual(f.read(), before, victim)
        orgs = run_tollgate("orgs", "list", "--json", "--config", cfg_path)
        self.assertEqual([o["name"] for o in orgs.json()["data"]], ["acme"], orgs)

    def test_an_empty_spool_is_fine(self):
        db = os.path.join(self.workdir, "empty.db")
        open(db + ".spool", "w").close()
        t = self.start_tollgate(store_config(self.workdir, db), ADMIN_ENV)
        self.assertEqual(t.admin("GET", "/orgs").status, 200)


class SpoolLockTest(GatewayTestCase):
    """Another process holds the database's lock while the ledger queue
    (one row) is full: workers append their rows to the spool, and the
    store thread's replay waits store.busy_timeout_ms for the lock. The
    workers must not wait with it: a request that needs no store (here
    /metrics) is answered at once throughout. (The replay used to hold the
    spool's mutex across its statements, so a worker appending a row froze
    its event loop for the whole busy timeout.) Every answered request
    still has its row, once."""

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)], [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])],
            **tenancy_sections(cls.workdir, allow_anonymous=True, queue_size=1, busy_timeout_ms=1500)), ADMIN_ENV)

    def test_workers_never_wait_for_the_replay(self):
        t = self.tollgate
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        stop, done, slow = threading.Event(), [], []

        def client(n):
            i = 0
            while not stop.is_set():
                rid = "spool-%d-%d" % (n, i)
                i += 1
                if t.chat(body, {"X-Request-ID": rid}).status == 200:
                    done.append(rid)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for th in threads:
            th.start()
        try:
            time.sleep(0.5)
            lock = sqlite3.connect(t.db_path, timeout=10, isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            deadline = time.time() + 5
            while time.time() < deadline:
                t0 = time.time()
                self.assertEqual(t.request("GET", "/metrics").status, 200)
                slow.append(time.time() - t0)
                time.sleep(0.02)
            lock.execute("ROLLBACK")
            lock.close()
        finally:
            stop.set()
            for th in threads:
                th.join(30)
        self.assertGreater(t.metrics().value("tollgate_ledger_spooled_rows_total"), 0)
        self.assertLess(max(slow), 1.0, "a worker stalled while the store waited for the lock")
        have = lambda: {r["request_id"] for r in t.db("SELECT request_id FROM ledger")}
        poll(lambda: set(done) <= have(), timeout=15, interval=0.2)
        self.assertEqual(set(done) - have(), set())
        self.assertEqual(t.db("SELECT request_id FROM ledger GROUP BY request_id HAVING count(*) > 1"), [])


if __name__ == "__main__":
    harness.main()
