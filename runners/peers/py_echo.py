"""py_echo: the Python peer echo servers of the echo benchmark, one per framework.

What: a TCP byte echo server, written the idiomatic way for each framework:
  asyncio         asyncio streams (start_server, reader.read / writer.write +
                  await writer.drain()), the default event loop
  asyncio_proto   the asyncio Protocol API (data_received -> transport.write),
                  the low-level fast path, default event loop
  uvloop          the streams server on uvloop's loop
  uvloop_proto    the Protocol server on uvloop's loop
  gevent          gevent.server.StreamServer, one greenlet per connection,
                  blocking-style recv / sendall
  threads         socketserver.ThreadingTCPServer, one OS thread per connection
Why: the echo benchmark compares the C++ models with the servers people
actually deploy; "uvloop is 2x faster" and "asyncio is fast enough" are claims
about these programs, so each is the framework's textbook echo server, not a
tuned one.

Usage (apt's interpreter; bench_echo starts it through runners/peers/peers.json):
  /usr/bin/python3 runners/peers/py_echo.py --variant uvloop_proto [--port 0]

Contract shared by every peer (runners/peers/README.md): binds 127.0.0.1 only,
prints exactly "port <P>" on stdout once listening, echoes bytes unchanged (a
byte stream: messages may be split or merged), TCP_NODELAY on accepted
sockets, backpressure (a connection is not read while its unsent data is above
the transport's high-water mark, or while a blocking send waits: no unbounded
buffering), survives client resets and half-close (the echo of what
arrived is written, then the socket closed), exits 0 on SIGTERM or SIGINT
without a traceback. The soft RLIMIT_NOFILE is raised to the hard limit so a
thousand connections fit. Bad arguments: one line on stderr, exit 2.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import resource
import signal
import socket
import sys
import threading

VARIANTS = ("asyncio", "asyncio_proto", "uvloop", "uvloop_proto", "gevent", "threads")
HOST = "127.0.0.1"
CHUNK = 64 * 1024           # bytes per read: the largest message swept (16 KiB) and merges
BACKLOG = 4096              # the largest connection count swept (1000) connects at once
STOP_GRACE_S = 1.0          # gevent: how long stop() lets handlers finish
SHUTDOWN_POLL_S = 0.05      # threads: serve_forever's poll, the latency of shutdown()
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
CONNECTION_GONE = (ConnectionError, OSError)  # reset, broken pipe, ...


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def nodelay(sock) -> None:
    """TCP_NODELAY (asyncio and uvloop set it already; explicit for every variant)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass  # the peer already reset the connection


def announce(port: int) -> None:
    sys.stdout.write(f"port {port}\n")
    sys.stdout.flush()


# ---- asyncio / uvloop: streams ---------------------------------------------------------

async def stream_echo(live: set, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
    live.add(writer.transport)
    nodelay(writer.get_extra_info("socket"))
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()  # backpressure: wait while the send buffer is full
    except CONNECTION_GONE:
        pass
    finally:
        live.discard(writer.transport)
        writer.close()


# ---- asyncio / uvloop: Protocol --------------------------------------------------------

class EchoProtocol(asyncio.Protocol):
    """data_received writes straight back; the transport pauses reading while
    its write buffer is above the high-water mark (pause_writing)."""

    def __init__(self, live: set) -> None:
        self.live = live
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.live.add(transport)
        nodelay(transport.get_extra_info("socket"))

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def eof_received(self):
        return False  # half-close: the transport flushes what is pending, then closes

    def connection_lost(self, exc) -> None:
        self.live.discard(self.transport)


async def serve_asyncio(port: int, protocol: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    live: set = set()
    if protocol:
        server = await loop.create_server(lambda: EchoProtocol(live), HOST, port,
                                          backlog=BACKLOG)
    else:
        server = await asyncio.start_server(functools.partial(stream_echo, live), HOST, port,
                                            backlog=BACKLOG)
    announce(server.sockets[0].getsockname()[1])
    await stop.wait()
    server.close()
    for transport in list(live):  # open connections end: the handlers see EOF
        transport.abort()
    await server.wait_closed()


def run_asyncio(port: int, variant: str) -> None:
    loop_factory = None
    if variant.startswith("uvloop"):
        import uvloop
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve_asyncio(port, protocol=variant.endswith("_proto")))


# ---- gevent ----------------------------------------------------------------------------

def run_gevent(port: int) -> None:
    import gevent
    from gevent.event import Event
    from gevent.server import StreamServer

    def echo(sock, _address) -> None:
        nodelay(sock)
        try:
            while data := sock.recv(CHUNK):
                sock.sendall(data)  # blocks this greenlet while the send buffer is full
        except CONNECTION_GONE:
            pass
        finally:
            sock.close()

    stop = Event()
    for sig in STOP_SIGNALS:
        gevent.signal_handler(sig, stop.set)
    server = StreamServer((HOST, port), echo, backlog=BACKLOG)
    server.start()
    announce(server.server_port)
    stop.wait()
    server.stop(timeout=STOP_GRACE_S)


# ---- threads ---------------------------------------------------------------------------

def run_threads(port: int) -> None:
    import socketserver

    class EchoHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            nodelay(self.request)
            try:
                while data := self.request.recv(CHUNK):
                    self.request.sendall(data)  # blocks this thread: backpressure
            except CONNECTION_GONE:
                pass

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True        # handlers blocked in recv do not hold up the exit
        allow_reuse_address = True
        request_queue_size = BACKLOG  # socketserver's default backlog is 5

    # Signals go to the main thread only, which waits for them; every thread
    # started below inherits the mask and never sees them.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    with Server((HOST, port), EchoHandler) as server:
        announce(server.server_address[1])
        serving = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL_S,),
                                   name="serve")
        serving.start()
        signal.sigwait(STOP_SIGNALS)
        server.shutdown()
        serving.join()


# ---- CLI -------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"py_echo: {message}", file=sys.stderr)
        sys.exit(2)


def port_number(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: '{text}'") from None
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: '{text}'")
    return v


def main(argv=None) -> int:
    p = Parser(description="Python peer echo server (one framework per --variant).")
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument("--port", type=port_number, default=0,
                   help="TCP port on 127.0.0.1 (default 0: an ephemeral port)")
    args = p.parse_args(argv)
    raise_fd_limit()
    try:
        if args.variant == "gevent":
            run_gevent(args.port)
        elif args.variant == "threads":
            run_threads(args.port)
        else:
            run_asyncio(args.port, args.variant)
    except ImportError as e:
        print(f"py_echo: --variant {args.variant}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"py_echo: cannot listen on {HOST}:{args.port}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
