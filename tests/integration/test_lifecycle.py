"""Every daemon has --help, starts against Redis and stops cleanly on
SIGTERM and SIGINT (issue 2, "Layout and build")."""

import signal
import subprocess
import unittest

from lwdslib import Redis, Services, binary


class TestLifecycle(unittest.TestCase):
    REDIS_DB = 8

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis(cls.REDIS_DB)
        cls.redis.flush()

    @classmethod
    def tearDownClass(cls):
        cls.redis.close()

    def test_help(self):
        for name in Services.ALL:
            with self.subTest(service=name):
                r = subprocess.run([binary(name), "--help"],
                                   capture_output=True, text=True, timeout=10)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("LWDS_REDIS_URL", r.stdout + r.stderr)

    def test_bad_flag_fails(self):
        for name in Services.ALL:
            with self.subTest(service=name):
                r = subprocess.run([binary(name), "--no-such-flag"],
                                   capture_output=True, text=True, timeout=10)
                self.assertNotEqual(r.returncode, 0)

    def stop_with(self, sig):
        svc = Services(self.redis).start()
        try:
            for p in svc.procs.values():
                p.send_signal(sig)
            codes = {n: p.wait(10) for n, p in svc.procs.items()}
            self.assertEqual(codes, {n: 0 for n in Services.ALL},
                             svc.logs())
        finally:
            svc.cleanup()

    def test_sigterm_stops_cleanly(self):
        self.stop_with(signal.SIGTERM)

    def test_sigint_stops_cleanly(self):
        self.stop_with(signal.SIGINT)


if __name__ == "__main__":
    unittest.main()
