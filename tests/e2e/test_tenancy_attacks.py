# End-to-end: tenancy (docs/tenancy.md) under attack and misuse. Each
# class is the regression test of a bug found by attacking the store, the
# ledger's spool, the admin API and the CLI: what a user or an attacker did,
# and what tollgate must do instead.

import os
import sqlite3
import subprocess

import harness
from harness import (ADMIN_ENV, GatewayTestCase, free_port, gateway_config, model, provider, run_tollgate,
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


if __name__ == "__main__":
    harness.main()
