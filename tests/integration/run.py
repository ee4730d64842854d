#!/usr/bin/env python3
"""run.py - run lwds integration test modules and count the cases.

usage: run.py [--counts FILE] [module ...]   (default: every test_*.py here)

Prints unittest's verbose output, then a last line "N passed, N failed".
Skips count as failures: a skipped integration test hides a broken install.
Exit status 0 only when nothing failed.  --counts writes "passed failed".
"""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class CountingResult(unittest.TextTestResult):
    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.failures.append((test, "skipped (not allowed): %s" % reason))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts")
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    names = args.modules or sorted(
        f[:-3] for f in os.listdir(HERE)
        if f.startswith("test_") and f.endswith(".py"))
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    runner = unittest.TextTestRunner(verbosity=2, resultclass=CountingResult)
    res = runner.run(suite)
    failed = len(res.failures) + len(res.errors) + \
        len(res.unexpectedSuccesses)
    passed = max(0, res.testsRun - failed)
    if args.counts:
        with open(args.counts, "w") as f:
            f.write("%d %d\n" % (passed, failed))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and res.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
