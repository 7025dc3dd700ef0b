// echo/libuv_ref: the echo server as libuv's own test/echo-server.c writes it
// -- uv_tcp_t streams, uv_read_start with an alloc callback that mallocs
// suggested_size, uv_write of what was read (freed in the write callback),
// uv_shutdown on EOF -- plus the flow control Node's streams add: reading
// pauses while more than kHighWater bytes wait in the write queue, so a
// client that never reads cannot make the server buffer without bound.
// The `libuv` model's row divided by this one is the seam's cost for libuv.
#if SY_HAVE_UV
#include <uv.h>

#include <cstdlib>
#include <string>

#include "benches/echo/refs.hpp"

namespace sy::echo {
namespace {

constexpr std::size_t kHighWater = 64 * 1024;  // write-queue bytes that pause reading

struct conn {
    uv_tcp_t tcp;
    bool paused = false;
};
struct write_req {
    uv_write_t req;
    uv_buf_t buf;
};

uv_stream_t* as_stream(conn* c) { return reinterpret_cast<uv_stream_t*>(&c->tcp); }
conn* of(uv_handle_t* h) { return static_cast<conn*>(h->data); }

void on_close(uv_handle_t* h) { delete of(h); }
void close_conn(uv_stream_t* s) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s))) uv_close(reinterpret_cast<uv_handle_t*>(s), on_close);
}

void on_alloc(uv_handle_t*, std::size_t suggested, uv_buf_t* buf) {
    buf->base = static_cast<char*>(std::malloc(suggested));
    buf->len = buf->base ? suggested : 0;
}

void after_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);

void after_write(uv_write_t* req, int status) {
    auto* wr = reinterpret_cast<write_req*>(req);
    uv_stream_t* s = req->handle;
    std::free(wr->buf.base);
    delete wr;
    if (status < 0) return close_conn(s);
    conn* c = of(reinterpret_cast<uv_handle_t*>(s));
    if (c->paused && uv_stream_get_write_queue_size(s) == 0 && !uv_is_closing(reinterpret_cast<uv_handle_t*>(s))) {
        c->paused = false;
        if (uv_read_start(s, on_alloc, after_read) != 0) close_conn(s);
    }
}

void after_shutdown(uv_shutdown_t* req, int) {
    close_conn(req->handle);
    delete req;
}

void after_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    if (nread <= 0) {
        std::free(buf->base);
        if (nread == 0) return;  // EAGAIN
        if (nread != UV_EOF) return close_conn(s);
        auto* req = new uv_shutdown_t;  // EOF: send what is queued, then close
        if (uv_shutdown(req, s, after_shutdown) != 0) {
            delete req;
            close_conn(s);
        }
        return;
    }
    auto* wr = new write_req;
    wr->buf = uv_buf_init(buf->base, unsigned(nread));
    if (uv_write(&wr->req, s, &wr->buf, 1, after_write) != 0) {
        std::free(wr->buf.base);
        delete wr;
        return close_conn(s);
    }
    if (uv_stream_get_write_queue_size(s) > kHighWater) {
        uv_read_stop(s);
        of(reinterpret_cast<uv_handle_t*>(s))->paused = true;
    }
}

void on_connection(uv_stream_t* server, int status) {
    if (status < 0) return;
    auto* c = new conn;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, as_stream(c)) != 0) return close_conn(as_stream(c));
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start(as_stream(c), on_alloc, after_read) != 0) close_conn(as_stream(c));
}

}  // namespace

void run_libuv_reference(int lfd) {
    uv_loop_t* loop = uv_default_loop();
    uv_tcp_t server;
    int r = uv_tcp_init(loop, &server);
    if (r == 0) r = uv_tcp_open(&server, lfd);
    if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&server), kBacklog, on_connection);
    if (r != 0) die(std::string("libuv_ref: ") + uv_strerror(r));
    uv_run(loop, UV_RUN_DEFAULT);
}

}  // namespace sy::echo

#endif  // SY_HAVE_UV
