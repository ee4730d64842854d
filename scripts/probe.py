#!/usr/bin/env python3
"""probe.py - readiness probes for ./lwds run.

usage: probe.py http HOST PORT   exit 0 when GET / answers 200
       probe.py coap HOST PORT   exit 0 when a CoAP ping gets a reset
"""

import http.client
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
from lwdslib import CoapClient  # noqa: E402


def main(argv):
    if len(argv) != 4 or argv[1] not in ("http", "coap"):
        sys.stderr.write(__doc__)
        return 2
    host, port = argv[2], int(argv[3])
    if argv[1] == "coap":
        c = CoapClient(host, port)
        try:
            return 0 if c.ping(0.5) else 1
        finally:
            c.close()
    try:
        c = http.client.HTTPConnection(host, port, timeout=1)
        c.request("GET", "/")
        return 0 if c.getresponse().status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
