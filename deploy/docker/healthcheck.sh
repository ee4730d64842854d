#!/bin/bash
# lwds-healthcheck PORT [PATH]: exit 0 when GET http://127.0.0.1:PORT/PATH
# (default /health) answers 200.  Pure bash (/dev/tcp): no curl in the image.
port=${1:?usage: lwds-healthcheck PORT [PATH]}
path=${2:-/health}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
IFS= read -r -t 5 status <&3 || exit 1
[[ $status == HTTP/1.?\ 200* ]]
