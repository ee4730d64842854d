#!/usr/bin/env python3
"""cli_services.py - the command line of the four services (lwm2m_cli):
--help exits 0 and shows every shared option with the same lines in every
service; an unknown flag or a bad value (flag or variable) exits 2 with one
line on stderr naming it.  No Redis needed: the command line is read before
anything connects.

usage: cli_services.py BINARY...   (meson passes the four services)
"""

import os
import subprocess
import sys
import unittest

BINARIES = sys.argv[1:]
del sys.argv[1:]

# the flags every service has
SHARED = ("--redis-url", "--log-level", "--log-json", "--health-addr")


def clean_env(**extra):
    """The environment without any LWDS_* variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LWDS_")}
    env.update(extra)
    return env


def run(binary, args, **env):
    """(exit status, stdout, stderr) of binary with args; a service that
    does not exit in 10 s (it started despite a bad option) is killed and
    fails the test."""
    p = subprocess.run([binary] + args, env=clean_env(**env),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=10)
    return p.returncode, p.stdout, p.stderr


def option_block(help_text, flag):
    """The lines of one option in --help: its first line and the indented
    lines after it."""
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  " + flag + " ") or line == "  " + flag:
            block = [line]
            for more in lines[i + 1:]:
                if not more.startswith("    "):
                    break
                block.append(more)
            return block
    return None


class ServiceCli(unittest.TestCase):

    def test_help_lists_the_shared_options(self):
        blocks = {}
        for binary in BINARIES:
            name = os.path.basename(binary)
            with self.subTest(service=name):
                code, out, err = run(binary, ["--help"])
                self.assertEqual(code, 0, err)
                self.assertTrue(out.startswith("Usage: %s [options]\n"
                                               % name), out[:80])
                self.assertIn("\n  -h, --help ", out)
                for flag in SHARED:
                    block = option_block(out, flag)
                    self.assertIsNotNone(block, "%s lacks %s" % (name, flag))
                    blocks.setdefault(flag, {})[name] = block
                for line in out.splitlines():
                    self.assertLessEqual(len(line), 80, line)
        # the same option, the same lines (but the default of --log-level
        # and the variable and default of --health-addr, which are each
        # service's)
        for flag, by_service in blocks.items():
            texts = {name: b if flag in ("--redis-url", "--log-json")
                     else b[:-1] for name, b in by_service.items()}
            self.assertEqual(len(set(map(tuple, texts.values()))), 1,
                             "%s differs: %r" % (flag, texts))

    def assert_refused(self, binary, args, named, **env):
        code, out, err = run(binary, args, **env)
        self.assertEqual(code, 2, "%s %s: exit %s" % (binary, args, code))
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn(named, lines[0])
        self.assertTrue(lines[0].startswith(os.path.basename(binary) + ": "),
                        lines[0])

    def test_bad_values_exit_2(self):
        for binary in BINARIES:
            with self.subTest(service=os.path.basename(binary)):
                self.assert_refused(binary, ["--log-level", "loud"],
                                    '--log-level "loud"')
                self.assert_refused(binary, ["--log-level=loud"],
                                    '--log-level "loud"')
                self.assert_refused(binary, [], 'LWDS_LOG_LEVEL "loud"',
                                    LWDS_LOG_LEVEL="loud")
                self.assert_refused(binary, [], 'LWDS_LOG_JSON "yes"',
                                    LWDS_LOG_JSON="yes")
                self.assert_refused(binary, ["--redis-url"], "--redis-url")
                self.assert_refused(binary, ["--log-json=1"], "--log-json")

    # variables their modules used to read themselves (each with its own
    # rules: some warned and took the default), now in each service's table
    MODULE_VARS = {
        "lwds-coap-gw": (("LWDS_DEVICE_TIMEOUT_MS", "abc"),
                         ("LWDS_QUEUE_MAX", "0"),
                         ("LWDS_DEVICE_SESSIONS_MAX", "-1"),
                         ("LWDS_EVENTS_MAXLEN", "0"),
                         ("LWDS_GW_NOTIFY_BACKLOG_BYTES", "1e6"),
                         ("LWDS_DTLS_ENABLE", "no"),
                         ("LWDS_DTLS_PKI", "maybe"),
                         ("LWDS_DTLS_SHARDS", "257"),
                         ("LWDS_DTLS_PSK_POLL_MS", "5"),
                         ("LWDS_COAP_WALK_MS", "x"),
                         ("LWDS_CLIENT_RETENTION_S", "30d")),
        "lwds-rest-api": (("LWDS_DEVICE_TIMEOUT_MS", "abc"),
                          ("LWDS_QUEUE_WAIT_MS", "-1"),
                          ("LWDS_HTTP_IO_TIMEOUT_S", "0"),
                          ("LWDS_RATE_LIMIT", "fast"),
                          ("LWDS_RATE_BURST", "-5"),
                          ("LWDS_SIGNING_KEY", "k" * 257),
                          ("LWDS_CLIENT_RETENTION_S", "-1")),
        "lwds-broker": (("LWDS_BROKER_CLAIM_IDLE_MS", "-1"),
                        ("LWDS_EVENTS_TRIM_MS", "-1"),
                        ("LWDS_BROKER_BACKLOG_MAX", "lots"),
                        ("LWDS_BROKER_EVENTS", "kafka")),
        "lwds-webhook": (("LWDS_WEBHOOK_TIMEOUT_MS", "5"),
                         ("LWDS_WEBHOOK_MAX_RETRIES", "101"),
                         ("LWDS_WEBHOOK_PIPELINE", "0"),
                         ("LWDS_WEBHOOK_CLAIM_IDLE_MS", "-1"),
                         ("LWDS_WEBHOOK_DEADLETTER_MAX", "x")),
    }

    def test_bad_module_values_exit_2(self):
        for binary in BINARIES:
            name = os.path.basename(binary)
            bad = self.MODULE_VARS[name] + (("LWDS_REDIS_SENTINELS",
                                             "a:1,,b:2"),)
            for var, value in bad:
                with self.subTest(service=name, variable=var):
                    self.assert_refused(binary, [], '%s "%s' % (var,
                                                                 value[:8]),
                                        **{var: value})

    def test_unknown_flags_exit_2(self):
        for binary in BINARIES:
            with self.subTest(service=os.path.basename(binary)):
                self.assert_refused(binary, ["--no-such-flag"],
                                    '"--no-such-flag"')
                self.assert_refused(binary, ["-v"], '"-v"')
                self.assert_refused(binary, ["stray"], '"stray"')


if __name__ == "__main__":
    if not BINARIES:
        sys.exit(__doc__)
    unittest.main(verbosity=2)
