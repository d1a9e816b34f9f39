# End-to-end: the ledger survives SIGKILL (docs/tenancy.md, "Durability").
# Eight clients send plain and streamed requests, each with its own
# X-Request-ID, over fresh HTTP/1.1 connections; tollgate is killed at a
# random moment and restarted on the same database, round after round.
# After each restart every request whose answer a client read to its end
# (status 200, the whole body or the terminating chunk) has exactly one
# ledger row, no request id has two, and PRAGMA integrity_check is ok.
# A second variant makes the journal one row long so that most rows go
# through the spool file, which a restart replays: still exactly once.
#
# Rounds: TOLLGATE_DURABILITY_ROUNDS (default 10) per variant. For a long
# run by hand, e.g. 300 rounds with a fixed seed:
#
#   TOLLGATE_DURABILITY_ROUNDS=300 TOLLGATE_DURABILITY_SEED=7 /usr/bin/python3 \
#       tests/e2e/test_ledger_durability.py --tollgate build/src/tollgate \
#       --mock build/tools/mock-llm/mock-llm

import os
import random
import sys
import threading
import time

import harness
from harness import (GatewayTestCase, free_port, gateway_config, model, poll, provider,
                     tenancy_sections)

ROUNDS = int(os.environ.get("TOLLGATE_DURABILITY_ROUNDS", "10"))
SEED = int(os.environ.get("TOLLGATE_DURABILITY_SEED", str(random.randrange(1 << 30))))
CLIENTS = 8
REPLAY_TIMEOUT_S = 10


class Load:
    """CLIENTS threads sending requests to one tollgate until it is gone;
    .completed: the request ids whose answers arrived whole."""

    def __init__(self, tollgate, prefix):
        self.tollgate, self.prefix = tollgate, prefix
        self.completed, self.sent = [], 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(n,), daemon=True)
                        for n in range(CLIENTS)]
        for th in self.threads:
            th.start()

    def client(self, n):
        for i in range(1 << 30):
            rid = "%s-c%d-%d" % (self.prefix, n, i)
            stream = (n + i) % 2 == 0
            body = {"model": "gpt-4o-mini", "max_tokens": 6, "stream": stream,
                    "messages": [{"role": "user", "content": "durable %s" % rid}]}
            with self.lock:
                self.sent += 1
            try:
                # http.client reads to Content-Length or the last chunk, and
                # raises if the connection ends first.
                r = self.tollgate.chat(body, {"X-Request-ID": rid, "X-Mock-Token-Delay-Ms": "5"})
            except Exception:
                return
            whole = r.status == 200 and (not stream or r.body.rstrip().endswith(b"data: [DONE]"))
            if whole:
                with self.lock:
                    self.completed.append(rid)

    def join(self, test):
        for th in self.threads:
            th.join(20)
            test.assertFalse(th.is_alive(), "a client is stuck after the kill")


class DurabilityBase(GatewayTestCase):
    queue_size = None
    synchronous = "normal"

    @classmethod
    def start(cls):
        cls.mock = cls.start_mock("--threads", "2")
        cls.random = random.Random(SEED)
        print("\n%s: seed %d, %d rounds" % (cls.__name__, SEED, ROUNDS), file=sys.stderr)

    def config(self):
        return gateway_config(
            free_port(), [provider("mock", self.mock, forward_headers=["x-mock-token-delay-ms"])],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])],
            **tenancy_sections(self.workdir, allow_anonymous=True, queue_size=self.queue_size,
                               synchronous=self.synchronous))

    def before_kill(self, tollgate):
        """Waits for the random moment of the kill."""
        time.sleep(self.random.uniform(0.2, 1.5))

    def check(self, tollgate, completed, what):
        """After a restart: each completed request has exactly one row."""
        def missing():
            have = {r["request_id"] for r in tollgate.db("SELECT request_id FROM ledger")}
            return [rid for rid in completed if rid not in have]
        poll(lambda: not missing(), timeout=REPLAY_TIMEOUT_S, interval=0.1)
        lost = missing()
        self.assertEqual(lost, [], "%s: %d of %d completed requests have no row (seed %d)"
                         % (what, len(lost), len(completed), SEED))
        twice = tollgate.db("SELECT request_id, count(*) AS n FROM ledger GROUP BY request_id"
                            " HAVING n > 1")
        self.assertEqual(twice, [], "%s: rows written twice (seed %d)" % (what, SEED))
        ids = tollgate.db("SELECT count(*) AS n, count(DISTINCT id) AS d FROM ledger")[0]
        self.assertEqual(ids["n"], ids["d"], what)
        self.assertEqual(tollgate.db("PRAGMA integrity_check"), [{"integrity_check": "ok"}], what)

    def run_rounds(self):
        completed, sent = [], 0
        tollgate = self.start_tollgate(self.config())
        for n in range(ROUNDS):
            load = Load(tollgate, "r%d" % n)
            self.before_kill(tollgate)
            tollgate.kill()
            load.join(self)
            completed += load.completed
            sent += load.sent
            tollgate = self.start_tollgate(self.config())
            self.check(tollgate, completed, "round %d" % n)
        self.assertGreater(len(completed), ROUNDS * CLIENTS)
        print("%s: %d requests sent, %d completed, %d rows" % (
            type(self).__name__, sent, len(completed),
            tollgate.db("SELECT count(*) AS n FROM ledger")[0]["n"]), file=sys.stderr)
        return tollgate


class KillDurabilityTest(DurabilityBase):
    def test_every_completed_request_has_one_row_after_sigkill(self):
        self.run_rounds()


class SpoolDurabilityTest(DurabilityBase):
    """A journal of one row, and an fsync per batch to slow the store
    thread: most rows go to the spool, the journal's one slot is claimed,
    published and freed again under eight clients, and a kill finds rows
    in both."""

    queue_size = 1
    synchronous = "full"
    spooled = written = 0

    def before_kill(self, tollgate):
        spooled = poll(lambda: tollgate.metrics().value("tollgate_ledger_spooled_rows_total") > 0,
                       timeout=8, interval=0.1)
        self.assertTrue(spooled, "nothing spooled with ledger.queue_size 1")
        super().before_kill(tollgate)
        m = tollgate.metrics()
        self.spooled += m.value("tollgate_ledger_spooled_rows_total")
        self.written += m.value("tollgate_ledger_rows_written_total")
        self.assertEqual(m.value("tollgate_ledger_write_errors_total"), 0)

    def test_spooled_rows_are_replayed_exactly_once(self):
        self.run_rounds()
        print("SpoolDurabilityTest: %d rows spooled, %d written (spooled ones replayed included)"
              % (self.spooled, self.written), file=sys.stderr)
        # the spool carried most of the load, or the test proves little
        self.assertGreater(self.spooled, self.written / 2)


if __name__ == "__main__":
    harness.main()
