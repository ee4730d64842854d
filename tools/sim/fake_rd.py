#!/usr/bin/env python3
"""fake_rd.py - a minimal LwM2M registration endpoint for trying lwds-sim
without the gateway: answers Register with 2.01 Location-Path rd/<n>,
Update with 2.04 and De-register with 2.02, printing one line per request.

Usage: fake_rd.py PORT [SECONDS]   (exits after SECONDS, default 5)
"""
import socket
import sys
import time


def parse(msg):
    """Return (type, code, mid, token, options[(num, bytes)], payload)."""
    tkl = msg[0] & 0x0F
    typ = (msg[0] >> 4) & 0x03
    code, mid = msg[1], int.from_bytes(msg[2:4], "big")
    token, i, num, opts = msg[4:4 + tkl], 4 + tkl, 0, []
    while i < len(msg) and msg[i] != 0xFF:
        delta, length = msg[i] >> 4, msg[i] & 0x0F
        i += 1
        if delta == 13:
            delta, i = msg[i] + 13, i + 1
        elif delta == 14:
            delta, i = int.from_bytes(msg[i:i + 2], "big") + 269, i + 2
        if length == 13:
            length, i = msg[i] + 13, i + 1
        elif length == 14:
            length, i = int.from_bytes(msg[i:i + 2], "big") + 269, i + 2
        num += delta
        opts.append((num, msg[i:i + length]))
        i += length
    return typ, code, mid, token, opts, msg[i + 1:] if i < len(msg) else b""


def option(prev, num, value):
    delta = num - prev
    assert delta < 13 and len(value) < 13
    return bytes([(delta << 4) | len(value)]) + value


def main():
    port = int(sys.argv[1])
    deadline = time.time() + (float(sys.argv[2]) if len(sys.argv) > 2 else 5)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.2)
    n = 0
    while time.time() < deadline:
        try:
            msg, peer = sock.recvfrom(2048)
        except socket.timeout:
            continue
        typ, code, mid, token, opts, payload = parse(msg)
        path = "/".join(v.decode() for k, v in opts if k == 11)
        query = "&".join(v.decode() for k, v in opts if k == 15)
        print(f"{peer[1]} {code >> 5}.{code & 31:02d} /{path}?{query} "
              f"{payload.decode(errors='replace')}", flush=True)
        if typ != 0:
            continue
        head = bytes([0x60 | len(token)])
        if code == 2 and path == "rd":
            n += 1
            body = option(0, 8, b"rd") + option(8, 8, str(n).encode())
            reply = head + bytes([65]) + mid.to_bytes(2, "big") + token + body
        else:
            rc = 66 if code == 4 else 68
            reply = head + bytes([rc]) + mid.to_bytes(2, "big") + token
        sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
