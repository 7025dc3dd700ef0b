// libuv_runner: the idle-drained callback queue (one turn budget), libuv
// streams for sockets and pipes, the async doorbell, and a shutdown that
// leaves uv_loop_close() == 0.
#include "runners/libuv.hpp"

#include <fcntl.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "runners/errors.hpp"

namespace sy {

namespace {
// Per-stream buffer for data that arrives while no read waits (Node's
// stream reads are 64 KiB too); reading stops while it is full.
constexpr std::size_t kSpillBytes = 64 * 1024;
// uv_listen's backlog for a socket the caller already listens on (listen(2)
// again only resets it); the kernel caps it at net.core.somaxconn.
constexpr int kListenBacklog = SOMAXCONN;
}  // namespace

struct libuv_runner::stream {
    union {
        uv_handle_t handle;
        uv_stream_t base;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    int fd = -1;
    bool reading = false;       // uv_read_start is in effect
    bool listening = false;     // uv_listen was called
    bool into_op = false;       // the last alloc handed out the front read's buffer
    bool conn_waiting = false;  // libuv holds an accepted connection for uv_accept
    io_result end = 1;          // 1: open; 0: EOF seen; < 0: read error
    std::vector<char> spill;    // data read while no read waited: [head, tail)
    std::size_t head = 0, tail = 0;
    detail::intrusive_fifo<op> readers, accepters;
};

libuv_runner::libuv_runner() : owner_(std::this_thread::get_id()) {
    detail::ignore_sigpipe();
    int r = uv_loop_init(&loop_);
    if (r != 0) throw resource_error(std::string("uv_loop_init: ") + uv_strerror(r));
    loop_.data = this;
    uv_idle_init(&loop_, &idle_);
    idle_.data = this;
    uv_async_init(&loop_, &async_, [](uv_async_t* a) {
        static_cast<libuv_runner*>(a->data)->remote_.drain();
    });
    async_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&async_));  // held only while awaited
}

libuv_runner::~libuv_runner() {
    tearing_down_ = true;  // pending writes/connects are freed, their callbacks not run
    while (!ready_.empty()) delete ready_.pop();
    for (auto& s : fds_)
        if (s) {
            for (auto* q : {&s->readers, &s->accepters})
                while (op* o = q->pop_front()) o->finish(o, -ECANCELED, false);
            close_stream(std::move(s));
        }
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);  // runs the close callbacks
    int r = uv_loop_close(&loop_);
    if (r != 0)
        std::fprintf(stderr, "switchyard: uv_loop_close: %s (a handle was left open)\n",
                     uv_strerror(r));
}

void libuv_runner::start_idle() {
    if (idle_active_) return;
    idle_active_ = true;
    uv_idle_start(&idle_, &on_idle);
}

void libuv_runner::on_idle(uv_idle_t* h) {
    auto* self = static_cast<libuv_runner*>(h->data);
    for (std::size_t n = detail::kTransferBudget; n > 0 && !self->ready_.empty(); --n) {
        detail::cb_node* node = self->ready_.pop();
        node->invoke(node);
    }
    if (self->ready_.empty()) {
        self->idle_active_ = false;
        uv_idle_stop(&self->idle_);
    }
}

void libuv_runner::hold() {
    if (held_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&async_));
}
void libuv_runner::release() {
    if (--held_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
}

// ---- streams ---------------------------------------------------------------------------
libuv_runner::stream* libuv_runner::stream_of(int fd, io_result& err) {
    if (fd >= 0 && std::size_t(fd) < fds_.size() && fds_[std::size_t(fd)]) return fds_[std::size_t(fd)].get();
    if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) {
        err = -EBADF;
        return nullptr;
    }
    auto s = std::make_unique<stream>();
    int r;
    bool made = false;  // the handle exists (and must be closed on failure)
    switch (uv_guess_handle(fd)) {
    case UV_TCP:
        r = uv_tcp_init(&loop_, &s->h.tcp);
        made = r == 0;
        if (made) r = uv_tcp_open(&s->h.tcp, fd);
        break;
    case UV_NAMED_PIPE:  // pipes and AF_UNIX stream sockets
        r = uv_pipe_init(&loop_, &s->h.pipe, 0);
        made = r == 0;
        if (made) r = uv_pipe_open(&s->h.pipe, fd);
        break;
    default:
        err = -EOPNOTSUPP;  // not a stream: UDP, eventfd, a regular file (use pread)
        return nullptr;
    }
    if (r != 0) {
        err = r;  // libuv errors are -errno
        if (made) {
            s->h.handle.data = s.get();
            close_stream(std::move(s));
        }
        return nullptr;
    }
    s->fd = fd;
    stream* raw = s.get();
    adopt(s);  // cannot fail: fds_[fd] was empty (checked on entry)
    return raw;
}

// False when the fd already has a stream: it was closed behind the runner's
// back (::close, not close()) and the kernel reused the number; `s` is left
// to the caller then.
bool libuv_runner::adopt(std::unique_ptr<stream>& s) {
    std::size_t fd = std::size_t(s->fd);
    if (fd >= fds_.size()) fds_.resize(fd + 1);
    if (fds_[fd]) return false;
    s->h.handle.data = s.get();
    uv_unref(&s->h.handle);  // keeps the loop alive only while a read or accept waits
    fds_[fd] = std::move(s);
    return true;
}

void libuv_runner::close_stream(std::unique_ptr<stream> s) {
    stream* raw = s.release();
    uv_close(&raw->h.handle, [](uv_handle_t* h) { delete static_cast<stream*>(h->data); });
}

void libuv_runner::update_ref(stream& s) {
    if (s.readers.empty() && s.accepters.empty())
        uv_unref(&s.h.handle);
    else
        uv_ref(&s.h.handle);
}

void libuv_runner::start_reading(stream& s) {
    int r = uv_read_start(&s.h.base, &on_alloc, &on_read);
    if (r == 0) {
        s.reading = true;
        return;
    }
    s.end = r;
    while (op* o = s.readers.pop_front()) finish_soon(o, r);
    update_ref(s);
}

void libuv_runner::start_read(int fd, op* o) {
    io_result err = 0;
    stream* s = stream_of(fd, err);
    if (!s) return finish_soon(o, err);
    if (o->len == 0) return finish_soon(o, 0);
    if (s->tail > s->head) {  // data that came while no read waited
        std::size_t n = std::min(o->len, s->tail - s->head);
        std::memcpy(o->buf, s->spill.data() + s->head, n);
        s->head += n;
        if (s->head == s->tail) s->head = s->tail = 0;
        if (!s->reading && s->end > 0) start_reading(*s);  // it had stopped when full
        return finish_soon(o, io_result(n));
    }
    if (s->end <= 0) return finish_soon(o, s->end);
    s->readers.push_back(o);
    update_ref(*s);
    if (!s->reading) start_reading(*s);
}

void libuv_runner::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* s = static_cast<stream*>(h->data);
    if (op* o = s->readers.front()) {  // read straight into the waiting read's buffer
        s->into_op = true;
        *buf = uv_buf_init(static_cast<char*>(o->buf), unsigned(o->len));
        return;
    }
    s->into_op = false;
    if (s->spill.empty()) s->spill.resize(kSpillBytes);
    if (s->head > 0 && s->tail == s->spill.size()) {  // full at the end: compact
        std::memmove(s->spill.data(), s->spill.data() + s->head, s->tail - s->head);
        s->tail -= s->head;
        s->head = 0;
    }
    // A zero-length buffer (full) makes libuv report UV_ENOBUFS: reading stops.
    *buf = uv_buf_init(s->spill.data() + s->tail, unsigned(s->spill.size() - s->tail));
}

void libuv_runner::on_read(uv_stream_t* h, ssize_t nread, const uv_buf_t*) {
    auto* s = static_cast<stream*>(h->data);
    if (nread == 0) return;  // EAGAIN
    if (nread > 0) {
        if (s->into_op) {
            op* o = s->readers.pop_front();
            update_ref(*s);
            o->finish(o, io_result(nread), true);
        } else {
            s->tail += std::size_t(nread);
        }
        return;
    }
    uv_read_stop(h);
    s->reading = false;
    if (nread == UV_ENOBUFS) return;  // the buffer is full; a read restarts it
    s->end = nread == UV_EOF ? 0 : io_result(nread);
    // Every waiting read gets the end; a callback may close the stream, which
    // takes the remaining reads itself.
    while (op* o = s->readers.pop_front()) {
        update_ref(*s);
        o->finish(o, s->end, true);
    }
}

void libuv_runner::start_write(int fd, op* o) {
    io_result err = 0;
    stream* s = stream_of(fd, err);
    if (!s) return finish_soon(o, err);
    if (o->len == 0) return finish_soon(o, 0);
    uv_buf_t b = uv_buf_init(static_cast<char*>(o->buf), unsigned(o->len));
    int r = uv_try_write(&s->h.base, &b, 1);
    if (r >= 0 && std::size_t(r) == o->len) return finish_soon(o, io_result(r));
    if (r < 0 && r != UV_EAGAIN) return finish_soon(o, r);
    std::size_t done = r > 0 ? std::size_t(r) : 0;  // queue the rest
    b = uv_buf_init(static_cast<char*>(o->buf) + done, unsigned(o->len - done));
    o->req.write.data = o;
    r = uv_write(&o->req.write, &s->h.base, &b, 1, &on_write);
    if (r < 0) finish_soon(o, r);
}

void libuv_runner::on_write(uv_write_t* req, int status) {
    auto* o = static_cast<op*>(req->data);
    auto* self = static_cast<libuv_runner*>(req->handle->loop->data);
    o->finish(o, status < 0 ? io_result(status) : io_result(o->len), !self->tearing_down_);
}

void libuv_runner::start_accept(int fd, op* o) {
    io_result err = 0;
    stream* s = stream_of(fd, err);
    if (!s) return finish_soon(o, err);
    if (!s->listening) {
        int r = uv_listen(&s->h.base, kListenBacklog, &on_connection);
        if (r != 0) return finish_soon(o, r);
        s->listening = true;
    }
    if (s->conn_waiting) {
        s->conn_waiting = false;
        return finish_soon(o, accept_one(*s));
    }
    s->accepters.push_back(o);
    update_ref(*s);
}

void libuv_runner::on_connection(uv_stream_t* h, int status) {
    auto* s = static_cast<stream*>(h->data);
    auto* self = static_cast<libuv_runner*>(h->loop->data);
    op* o = s->accepters.pop_front();
    if (!o) {
        // libuv keeps the connection and stops accepting until uv_accept.
        if (status == 0) s->conn_waiting = true;
        return;
    }
    update_ref(*s);
    o->finish(o, status < 0 ? io_result(status) : self->accept_one(*s), true);
}

io_result libuv_runner::accept_one(stream& listener) {
    auto c = std::make_unique<stream>();
    int r = listener.h.handle.type == UV_TCP ? uv_tcp_init(&loop_, &c->h.tcp) : uv_pipe_init(&loop_, &c->h.pipe, 0);
    if (r != 0) return r;
    r = uv_accept(&listener.h.base, &c->h.base);
    uv_os_fd_t fd = -1;
    if (r == 0) r = uv_fileno(&c->h.handle, &fd);
    if (r != 0) {
        c->h.handle.data = c.get();
        close_stream(std::move(c));
        return r;
    }
    c->fd = fd;
    // May run inside on_connection, a libuv (C) callback: no exception may
    // cross it, so a stale fd entry fails this accept with -EEXIST instead
    // (and closes the new connection: the stale stream still owns the number).
    if (!adopt(c)) {
        c->h.handle.data = c.get();
        close_stream(std::move(c));
        return -EEXIST;
    }
    return fd;
}

void libuv_runner::start_connect(int fd, const sockaddr* addr, socklen_t len, op* o) {
    io_result err = 0;
    stream* s = stream_of(fd, err);
    if (!s) return finish_soon(o, err);
    o->req.connect.data = o;
    if (s->h.handle.type == UV_TCP) {
        int r = uv_tcp_connect(&o->req.connect, &s->h.tcp, addr, &on_connect);
        if (r != 0) finish_soon(o, r);
        return;
    }
    const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
    if (addr->sa_family != AF_UNIX || len <= socklen_t(offsetof(sockaddr_un, sun_path)) || un->sun_path[0] == '\0')
        return finish_soon(o, -EAFNOSUPPORT);  // uv_pipe_connect takes a path only
    std::string path(un->sun_path, strnlen(un->sun_path, len - offsetof(sockaddr_un, sun_path)));
    uv_pipe_connect(&o->req.connect, &s->h.pipe, path.c_str(), &on_connect);
}

void libuv_runner::on_connect(uv_connect_t* req, int status) {
    auto* o = static_cast<op*>(req->data);
    auto* self = static_cast<libuv_runner*>(req->handle->loop->data);
    o->finish(o, status, !self->tearing_down_);
}

void libuv_runner::close(int fd) {
    if (fd < 0 || std::size_t(fd) >= fds_.size() || !fds_[std::size_t(fd)]) {
        ::close(fd);
        return;
    }
    std::unique_ptr<stream> s = std::move(fds_[std::size_t(fd)]);
    for (auto* q : {&s->readers, &s->accepters})
        while (op* o = q->pop_front()) finish_soon(o, -ECANCELED);
    // uv_close closes the fd and ends queued writes and connects (UV_ECANCELED).
    close_stream(std::move(s));
}

void libuv_runner::run() {
    owner_ = std::this_thread::get_id();
    uv_run(&loop_, UV_RUN_DEFAULT);
}

}  // namespace sy
