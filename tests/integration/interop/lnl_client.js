// lnl_client.js - register an lwm2m-node-lib (Telefonica) LwM2M client with
// an lwds gateway: a second third-party client beside coap-node.
//
// usage: node lnl_client.js <host> <port> <endpoint-name>
// Objects: /3/0 (Device), /3303/0 (Temperature: 5700 Sensor Value, 5701
// Units, 5605 Reset Min and Max Measured Values, 5750 Application Type).
// Prints one JSON line per event on stdout:
//   {"event":"registered","location":"/rd/<id>"}
//   {"event":"written","path":"/3303/0/5750","value":"..."}
//   {"event":"executed","path":"/3303/0/5605","args":"..."}
//   {"event":"error","message":"..."}
// Reads commands from stdin, one per line: "quit".
'use strict';

const readline = require('readline');
const async = require('async');
const lib = require('lwm2m-node-lib');

const client = lib.client;
const [host, port, name] = process.argv.slice(2);
if (!host || !port || !name) {
    process.stderr.write('usage: node lnl_client.js host port name\n');
    process.exit(2);
}

function say(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(err) {
    say({ event: 'error', message: String(err && err.message || err) });
    process.exit(1);
}

client.init({
    logLevel: 'FATAL',
    client: {
        lifetime: '300',
        version: '1.0',
        logLevel: 'FATAL',
        observe: { period: 3000 },
        ipProtocol: 'udp4',
        serverProtocol: 'udp4'
    }
});

const reg = client.registry;
async.series([
    (cb) => reg.create('/3/0', cb),
    (cb) => reg.setResource('/3/0', '0', 'Telefonica', cb),
    (cb) => reg.setResource('/3/0', '2', name, cb),
    (cb) => reg.create('/3303/0', cb),
    (cb) => reg.setResource('/3303/0', '5700', '21.5', cb),
    (cb) => reg.setResource('/3303/0', '5701', 'Cel', cb),
    (cb) => reg.setResource('/3303/0', '5750', 'room', cb),
], (err) => {
    if (err) {
        fail(err);
    }
    client.register(host, Number(port), '', name, (err, info) => {
        if (err) {
            fail(err);
        }
        client.setHandler(info.serverInfo, 'write',
            (type, id, rid, value, cb) => {
                say({ event: 'written', path: `/${type}/${id}/${rid}`,
                      value: String(value) });
                cb(null);
            });
        client.setHandler(info.serverInfo, 'execute',
            (type, id, rid, args, cb) => {
                say({ event: 'executed', path: `/${type}/${id}/${rid}`,
                      args: String(args || '') });
                cb(null);
            });
        say({ event: 'registered', location: info.location });
    });
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'quit') {
        process.exit(0);
    }
});
