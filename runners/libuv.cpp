// libuv_runner: idle-drained callback queue, per-fd uv_poll readiness,
// async doorbell, and a shutdown that leaves uv_loop_close() == 0.
#include "runners/libuv.hpp"

#include <cstdio>
#include <stdexcept>
#include <string>

#include "runners/errors.hpp"

namespace sy {

struct libuv_runner::fd_state {
    uv_poll_t poll;
    int fd = -1;
    int events = 0;  // currently requested UV_READABLE | UV_WRITABLE
    bool open = false;
    detail::intrusive_fifo<detail::io_op> readers, writers;
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
    while (!ready_.empty()) delete ready_.pop();
    for (auto& s : fds_)
        if (s && s->open) {
            uv_poll_stop(&s->poll);
            uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), nullptr);
            s->open = false;
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
    for (std::size_t n = self->ready_.size(); n > 0 && !self->ready_.empty(); --n) {
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

libuv_runner::fd_state& libuv_runner::state(int fd) {
    if (std::size_t(fd) >= fds_.size()) fds_.resize(std::size_t(fd) + 1);
    auto& p = fds_[std::size_t(fd)];
    if (!p) p = std::make_unique<fd_state>();
    return *p;
}

void libuv_runner::start_io(detail::io_op* op) {
    io_result r = op->attempt(op);  // readiness model: try first
    if (r != -EAGAIN) {
        op->result = r;
        // Deliver through the queue, not re-entrantly inside the caller.
        post([op] { op->complete(op); });
        return;
    }
    bool in = op->attempt == &detail::read_op::run || op->attempt == &detail::accept_op::run;
    arm(op, in ? detail::io_dir::in : detail::io_dir::out);
}

void libuv_runner::arm(detail::io_op* op, detail::io_dir dir) {
    fd_state& s = state(op->fd);
    if (!s.open) {
        int r = uv_poll_init(&loop_, &s.poll, op->fd);
        if (r != 0) {
            op->result = r;  // libuv errors are -errno
            post([op] { op->complete(op); });
            return;
        }
        s.poll.data = &s;
        s.fd = op->fd;
        s.open = true;
    }
    (dir == detail::io_dir::in ? s.readers : s.writers).push_back(op);
    update_poll(s);
}

void libuv_runner::update_poll(fd_state& s) {
    int want = (s.readers.empty() ? 0 : UV_READABLE) | (s.writers.empty() ? 0 : UV_WRITABLE);
    if (want == s.events) return;
    s.events = want;
    if (want)
        uv_poll_start(&s.poll, want, &on_poll);
    else
        uv_poll_stop(&s.poll);
}

void libuv_runner::on_poll(uv_poll_t* h, int status, int events) {
    auto* s = static_cast<fd_state*>(h->data);
    auto* self = static_cast<libuv_runner*>(h->loop->data);
    auto run_queue = [&](detail::intrusive_fifo<detail::io_op>& q) {
        while (detail::io_op* op = q.front()) {
            io_result r = status < 0 ? io_result(status) : op->attempt(op);
            if (r == -EAGAIN) return;
            q.pop_front();
            op->result = r;
            op->complete(op);
        }
    };
    if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT))) run_queue(s->readers);
    if (status < 0 || (events & UV_WRITABLE)) run_queue(s->writers);
    if (s->open) self->update_poll(*s);
}

void libuv_runner::close(int fd) {
    if (fd >= 0 && std::size_t(fd) < fds_.size() && fds_[std::size_t(fd)]) {
        std::unique_ptr<fd_state> s = std::move(fds_[std::size_t(fd)]);
        for (auto* q : {&s->readers, &s->writers})
            while (detail::io_op* op = q->pop_front()) {
                op->result = -ECANCELED;
                post([op] { op->complete(op); });
            }
        if (s->open) {
            uv_poll_stop(&s->poll);
            s->open = false;
            fd_state* raw = s.release();
            uv_close(reinterpret_cast<uv_handle_t*>(&raw->poll),
                     [](uv_handle_t* h) { delete static_cast<fd_state*>(h->data); });
        }
    }
    ::close(fd);
}

void libuv_runner::run() {
    owner_ = std::this_thread::get_id();
    uv_run(&loop_, UV_RUN_DEFAULT);
}

}  // namespace sy
