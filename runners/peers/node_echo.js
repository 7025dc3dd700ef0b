// node_echo: the Node.js peer echo server of the echo benchmark.
//
// What: the textbook Node echo server -- the built-in `net` module, one
// socket per connection piped into itself (`socket.pipe(socket)`): pipe()
// pauses reading while the socket's write buffer is above its high-water mark
// (backpressure) and ends the write side when the client ends its own
// (half-close). No npm packages.
// Why: "uvloop is 2x faster than node" is a claim about this program; node
// runs on libuv, the same loop as the C++ libuv model.
//
// Usage (apt package `nodejs`; bench_echo starts it through peers.json):
//   node runners/peers/node_echo.js [--port 0]
//
// Contract (runners/peers/README.md): binds 127.0.0.1 only, prints exactly
// "port <P>" on stdout once listening, echoes bytes unchanged, TCP_NODELAY on
// every connection, survives client resets (a socket error only destroys that
// socket), exits 0 on SIGTERM or SIGINT. Node raises the soft RLIMIT_NOFILE
// to the hard limit itself at start-up. Bad arguments: one line, exit 2.
'use strict';

const net = require('net');

const HOST = '127.0.0.1';
const BACKLOG = 4096;  // the largest connection count swept (1000) connects at once
const USAGE_EXIT = 2;

function fail(message) {
  process.stderr.write(`node_echo: ${message}\n`);
  process.exit(USAGE_EXIT);
}

// '--port N' (N in 0..65535; 0 = ephemeral) -> N; anything else is a usage error.
function parsePort(argv) {
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '--port') fail(`unknown argument '${argv[i]}' (usage: node_echo.js [--port N])`);
    const text = argv[++i];
    if (text === undefined || !/^\d+$/.test(text) || Number(text) > 65535) {
      fail(`--port: not a port number: '${text ?? ''}'`);
    }
    port = Number(text);
  }
  return port;
}

const live = new Set();

const server = net.createServer((socket) => {
  live.add(socket);
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());  // ECONNRESET, EPIPE: drop this connection
  socket.on('close', () => live.delete(socket));
  socket.pipe(socket);
});

server.on('error', (err) => {
  process.stderr.write(`node_echo: cannot listen on ${HOST}: ${err.message}\n`);
  process.exit(1);
});

function stop() {
  server.close();
  for (const socket of live) socket.destroy();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen({ host: HOST, port: parsePort(process.argv.slice(2)), backlog: BACKLOG }, () => {
  process.stdout.write(`port ${server.address().port}\n`);
});
