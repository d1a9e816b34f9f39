# End-to-end: running out of file descriptors. tollgate raises its soft
# descriptor limit to the hard one at start and says so. When accept(2)
# still fails for want of descriptors (1,500 idle clients against a limit
# of 1,024), the workers rest their listeners instead of spinning on them
# (before: about 1.9 cores burnt, nothing logged), log it once, and serve
# normally again as soon as connections close.

import resource
import socket
import time

from harness import GatewayTestCase, free_port, gateway_config, model, provider

LIMIT = 1024
IDLE = 1500


class DescriptorLimitTest(GatewayTestCase):
    @classmethod
    def start(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = IDLE + 256
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        cls.mock = cls.start_mock()
        cfg = gateway_config(free_port(), [provider("mock", cls.mock)],
                             [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])])
        cfg["server"]["header_timeout_ms"] = 60000  # idle clients stay for the whole test
        cls.tollgate = cls.start_tollgate(cfg, max_fds=LIMIT)

    def test_exhaustion_does_not_spin_and_recovers(self):
        t = self.tollgate
        idle = []
        try:
            for _ in range(IDLE):
                idle.append(socket.create_connection(("127.0.0.1", t.port)))
            deadline = time.time() + 10
            while t.open_fds() < LIMIT - 8:
                self.assertLess(time.time(), deadline, "descriptors never ran out")
                time.sleep(0.05)
            cpu0, wall0 = t.cpu_seconds(), time.time()
            time.sleep(3)
            share = (t.cpu_seconds() - cpu0) / (time.time() - wall0)
            print("\nat %d descriptors with %d idle clients: %.1f%% of a core"
                  % (LIMIT, IDLE, 100 * share))
            self.assertLess(share, 0.10)
        finally:
            for s in idle:
                s.close()
        # Connections freed: a normal request is served.
        deadline = time.time() + 10
        while True:
            try:
                r = t.chat({"model": "gpt-4o-mini", "max_tokens": 2,
                            "messages": [{"role": "user", "content": "back"}]})
                self.assertEqual(r.status, 200, r.body)
                break
            except OSError:
                self.assertLess(time.time(), deadline, "not serving after descriptors freed up")
                time.sleep(0.1)
        # Said at start, and once per worker, not once per failed accept.
        self.assertIn("descriptor limit %d (already the hard limit)" % LIMIT, t.stderr())
        self.assertIn("out of file descriptors", t.stderr())
        self.assertLessEqual(t.stderr().count("out of file descriptors"), 2)


class DescriptorLimitRaiseTest(GatewayTestCase):
    @classmethod
    def start(cls):
        cls.mock = cls.start_mock()
        cls.tollgate = cls.start_tollgate(gateway_config(
            free_port(), [provider("mock", cls.mock)],
            [model("gpt-4o-mini", [("mock", "gpt-4o-mini")])]), max_fds=(LIMIT, 4 * LIMIT))

    def test_soft_limit_raised_to_hard(self):
        self.assertIn("descriptor limit raised from %d to %d" % (LIMIT, 4 * LIMIT),
                      self.tollgate.stderr())


if __name__ == "__main__":
    import harness
    harness.main()
