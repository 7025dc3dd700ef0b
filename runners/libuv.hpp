// Model `libuv`: a uv_loop_t with callbacks, the way Node.js and uvloop use
// it.
//
// Scheduling: one OS thread running uv_run. post() appends to a FIFO that a
// uv_idle handle drains once per loop iteration (like setImmediate); timers
// are uv_timer_t (libuv's binary heap, millisecond resolution); fd I/O uses
// one uv_poll_t per fd (readiness, attempt first, like the epoll loop);
// offload is uv_queue_work on libuv's thread pool; cross-thread wakes use a
// uv_async_t. Shutdown closes every handle so uv_loop_close() returns 0.
#pragma once

#include <uv.h>

#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "runners/detail/callback.hpp"
#include "runners/detail/fd_ops.hpp"
#include "runners/detail/intrusive.hpp"
#include "runners/detail/remote_queue.hpp"
#include "runners/detail/ring_queue.hpp"

namespace sy {

class libuv_runner {
public:
    static constexpr std::string_view name = "libuv";
    static constexpr bool cooperative = true;

    libuv_runner();
    ~libuv_runner();
    libuv_runner(const libuv_runner&) = delete;
    libuv_runner& operator=(const libuv_runner&) = delete;

    template <class F>
    void post(F&& f) {
        post_node(detail::make_cb(std::forward<F>(f)));
    }
    void post_node(detail::cb_node* n) {
        if (ready_.empty()) start_idle();
        ready_.push(n);
    }

    // libuv keeps loop time in whole milliseconds, truncated, so a uv_timer
    // can fire up to 1 ms early in real time (as Node's setTimeout does).
    // The runner keeps the precise deadline and re-arms for the remainder.
    template <class F>
    void after(std::chrono::nanoseconds d, F&& f) {
        struct node final : detail::pooled {
            uv_timer_t timer;
            std::uint64_t deadline_ns;
            std::decay_t<F> fn;
            explicit node(F&& x) : fn(std::forward<F>(x)) {}
            static void on_fire(uv_timer_t* t) {
                auto* self = static_cast<node*>(t->data);
                if (uv_hrtime() < self->deadline_ns) {  // early: wait for the rest
                    start_timer(t, self->deadline_ns, &on_fire);
                    return;
                }
                uv_close(reinterpret_cast<uv_handle_t*>(t),
                         [](uv_handle_t* h) { delete static_cast<node*>(h->data); });
                self->fn();
            }
        };
        auto* n = new node(std::forward<F>(f));
        uv_timer_init(&loop_, &n->timer);
        n->timer.data = n;
        n->deadline_ns = uv_hrtime() + std::uint64_t(d.count() > 0 ? d.count() : 0);
        start_timer(&n->timer, n->deadline_ns, &node::on_fire);
    }

    template <class F>
    void read(int fd, void* buf, std::size_t len, F&& f) {
        start_io(new io_node<detail::read_op, std::decay_t<F>>(std::forward<F>(f), fd, buf, len));
    }
    // File reads go to libuv's thread pool (uv_fs_read), as Node's fs does.
    template <class F>
    void pread(int fd, void* buf, std::size_t len, off_t offset, F&& f) {
        struct node final : detail::pooled {
            uv_fs_t req;
            std::decay_t<F> fn;
            explicit node(F&& x) : fn(std::forward<F>(x)) {}
        };
        auto* n = new node(std::forward<F>(f));
        n->req.data = n;
        uv_buf_t b = uv_buf_init(static_cast<char*>(buf), unsigned(len));
        int r = uv_fs_read(&loop_, &n->req, fd, &b, 1, offset, [](uv_fs_t* req) {
            auto* self = static_cast<node*>(req->data);
            io_result res = req->result;
            uv_fs_req_cleanup(req);
            struct deleter {
                node* p;
                ~deleter() { delete p; }
            } del{self};
            self->fn(res);
        });
        if (r < 0) {
            io_result res = r;
            auto fn = std::move(n->fn);
            delete n;
            post([fn = std::move(fn), res]() mutable { fn(res); });
        }
    }
    template <class F>
    void write(int fd, const void* buf, std::size_t len, F&& f) {
        start_io(new io_node<detail::write_op, std::decay_t<F>>(std::forward<F>(f), fd, buf, len));
    }
    template <class F>
    void accept(int fd, F&& f) {
        start_io(new io_node<detail::accept_op, std::decay_t<F>>(std::forward<F>(f), fd));
    }
    template <class F>
    void connect(int fd, const sockaddr* addr, socklen_t len, F&& f) {
        start_io(new io_node<detail::connect_op, std::decay_t<F>>(std::forward<F>(f), fd, addr, len));
    }
    // Pending ops on fd end with -ECANCELED; the poll handle is closed.
    void close(int fd);

    template <class Fn, class Done>
    void offload(Fn fn, Done done) {
        using R = std::invoke_result_t<Fn&>;
        struct job final : detail::pooled {
            uv_work_t req;
            Fn fn;
            Done done;
            outcome<R> out;
            job(Fn f, Done d) : fn(std::move(f)), done(std::move(d)) {}
        };
        auto* j = new job(std::move(fn), std::move(done));
        j->req.data = j;
        uv_queue_work(
            &loop_, &j->req, [](uv_work_t* r) { static_cast<job*>(r->data)->out.capture(static_cast<job*>(r->data)->fn); },
            [](uv_work_t* r, int) {
                auto* self = static_cast<job*>(r->data);
                struct deleter {
                    job* p;
                    ~deleter() { delete p; }
                } del{self};
                self->done(std::move(self->out));
            });
    }

    template <class T>
    using channel = detail::cb_channel<libuv_runner, T>;
    using event = detail::cb_event<libuv_runner>;

    void post_remote(void (*fn)(void*), void* arg) {
        remote_.push({fn, arg});
        uv_async_send(&async_);
    }
    void hold();
    void release();
    bool on_loop_thread() const { return std::this_thread::get_id() == owner_; }

    // uv_run until no handle or request is active.
    void run();

    detail::frame_pool& frames() { return frames_; }
    uv_loop_t* loop() { return &loop_; }

private:
    struct fd_state;
    struct io_base : detail::io_op {
        void (*deliver)(io_base*) = nullptr;  // run the user's callback, free the node
    };
    template <class Op, class F>
    struct io_node final : Op, detail::pooled {
        F fn;
        template <class... A>
        explicit io_node(F f, A... args) : Op(args...), fn(std::move(f)) {
            this->complete = &done;
        }
        static void done(detail::io_op* o) {
            auto* self = static_cast<io_node*>(o);
            struct deleter {
                io_node* p;
                ~deleter() { delete p; }
            } del{self};
            self->fn(self->result);
        }
    };
    void start_io(detail::io_op* op);
    void arm(detail::io_op* op, detail::io_dir dir);
    fd_state& state(int fd);
    void update_poll(fd_state& s);
    static void on_poll(uv_poll_t* h, int status, int events);
    void start_idle();
    static void on_idle(uv_idle_t* h);
    // Starts `t` to fire at deadline_ns (uv_hrtime clock), rounded up to ms.
    static void start_timer(uv_timer_t* t, std::uint64_t deadline_ns, uv_timer_cb cb) {
        uv_update_time(t->loop);
        std::uint64_t now = uv_hrtime();
        std::uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
        uv_timer_start(t, cb, (left + 999'999) / 1'000'000, 0);
    }

    detail::frame_pool frames_;
    detail::frame_pool_scope frames_scope_{&frames_};
    uv_loop_t loop_;
    uv_idle_t idle_;
    uv_async_t async_;
    bool idle_active_ = false;
    std::size_t held_ = 0;
    detail::ring_queue<detail::cb_node*> ready_;
    std::vector<std::unique_ptr<fd_state>> fds_;
    detail::remote_queue remote_;
    std::thread::id owner_;
};

}  // namespace sy
