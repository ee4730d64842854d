// client.js - register a coap-node LwM2M client with an lwds gateway.
//
// usage: node client.js <host> <port> <endpoint-name> [lifetime [version]]
// version is the lwm2m= query value; without it coap-node sends its own
// default "1.0.0", which the gateway reads as 1.0.
// Prints one JSON line per event on stdout:
//   {"event":"registered","status":"2.01","location":"/rd/<id>"}
//   {"event":"deregistered","status":"2.02"}
//   {"event":"executed","path":"/3303/0/5605","args":[...]}
//   {"event":"error","message":"..."}
// Reads commands from stdin, one per line: "deregister", "quit".
'use strict';

const readline = require('readline');
const CoapNode = require('coap-node');
const SmartObject = require('smartobject');

const [host, port, name, lifetime, version] = process.argv.slice(2);
if (!host || !port || !name) {
    process.stderr.write('usage: node client.js host port name [lifetime [version]]\n');
    process.exit(2);
}

function say(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

const so = new SmartObject();
so.init('temperature', 0, {
    sensorValue: 21.5,
    units: 'Cel',
    // Reset Min and Max Measured Values (5605), executable: each call is
    // reported on stdout so tests see it arrive
    resetMinMaxMeaValues: {
        exec: function (...args) {
            const cb = args.pop();
            say({ event: 'executed', path: '/3303/0/5605', args: args });
            cb(null, null);
        }
    }
});
so.init('lightCtrl', 0, { onOff: false, dimmer: 10 });
const attrs = { lifetime: Number(lifetime || 300) };
if (version) {
    attrs.version = version;
}
const node = new CoapNode(name, so, attrs);

node.on('error', (err) => say({ event: 'error', message: String(err) }));

node.register(host, Number(port), (err, rsp) => {
    if (err) {
        say({ event: 'error', message: String(err) });
        process.exit(1);
    }
    say({ event: 'registered', status: rsp.status,
          location: node.locationPath });
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'deregister') {
        node.deregister((err, rsp) => {
            if (err) {
                say({ event: 'error', message: String(err) });
                process.exit(1);
            }
            say({ event: 'deregistered', status: rsp.status });
            process.exit(0);
        });
    } else if (cmd === 'quit') {
        process.exit(0);
    }
});
