// The load logic of switchyard-load, shared by both I/O paths (epoll,
// io_uring): per loop turn it generates the messages that are due, hands
// them to the I/O path, verifies every echoed byte (benches/load/wire.hpp)
// and records latency into a histogram (benches/load/histogram.hpp), and it
// owns the phases (warm-up, then the measured window) and the client's CPU
// use over the window.
//
// Closed loop (--mode closed) is the few lines that say "one message in
// flight per connection": a connection gets its next message when the last
// one came back, and latency is measured from when it was queued. Open loop
// asks its schedule (benches/load/open_loop.hpp) which connections have
// messages due, when each was meant to leave, and how to wait.
//
// run_loop is the turn both paths share: tick, flush sends, wait and handle
// completions. An I/O path provides start(), start_send(connection&) and
// wait_and_process(wait_plan, phase edge) -> events handled.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "benches/load/common.hpp"
#include "benches/load/connection.hpp"
#include "benches/load/histogram.hpp"
#include "benches/load/open_loop.hpp"
#include "benches/load/options.hpp"
#include "benches/load/wire.hpp"

namespace sy::load {

class load_client {
public:
    load_client(const options& o, std::vector<unique_fd> fds)
        : opt_(o), codec_(static_cast<std::size_t>(o.size)), size_(static_cast<std::size_t>(o.size)),
          open_(o.mode == load_mode::open), conns_(fds.size()) {
        for (std::size_t i = 0; i < fds.size(); ++i) {
            conns_[i].fd = std::move(fds[i]);
            conns_[i].idx = static_cast<std::uint32_t>(i);
        }
        if (open_) sched_ = open_schedule(o.rate, conns_.size());
        dirty_.reserve(conns_.size());
    }

    std::function<void()> on_window_start, on_window_end;  // server-side snapshots

    std::vector<connection>& conns() { return conns_; }
    std::size_t size() const { return size_; }

    void begin(std::uint64_t now) {
        sched_.begin(now);
        ws_target_ = now + static_cast<std::uint64_t>(opt_.warmup * 1e9);
        we_target_ = ws_target_ + static_cast<std::uint64_t>(opt_.duration * 1e9);
        if (opt_.warmup == 0) start_window();
        if (!open_)
            for (auto& c : conns_) mark_dirty(c);
    }

    // Start of a loop turn: phase changes and open-loop scheduling.
    void tick(std::uint64_t now) {
        if (!in_window_ && !done_ && now >= ws_target_) start_window();
        if (in_window_ && now >= we_target_) end_window();
        if (open_ && !done_) sched_.advance(now, [&](std::uint32_t i) { mark_dirty(conns_[i]); });
    }

    bool finished() const { return done_ || !failure_.empty(); }

    // How the I/O path waits this turn. Phase edges wake it by themselves
    // (phase_edge(): one timer per phase, armed by the I/O path).
    wait_plan plan_wait(std::uint64_t now) const {
        if (!dirty_.empty()) return {wait_kind::poll, 0, false};
        if (!open_) return spin_ ? wait_plan{wait_kind::poll, 0, true} : wait_plan{wait_kind::block, 0, false};
        return sched_.plan_wait(now, spin_);
    }
    // Absolute CLOCK_MONOTONIC time of the next phase edge; 0 when done.
    std::uint64_t phase_edge() const {
        if (done_) return 0;
        return in_window_ ? we_target_ : ws_target_;
    }
    void allow_spin(bool on) { spin_ = on; }
    // Wall time of spin turns that found nothing to do.
    void add_spin(std::uint64_t ns) {
        if (in_window_) spin_ns_ += ns;
    }
    // Loop turns and completions/events handled in the window.
    void count_turn(std::size_t events) {
        if (!in_window_) return;
        ++turns_;
        events_ += events;
        idle_turns_ += events == 0;
    }
    std::uint64_t turns() const { return turns_; }
    std::uint64_t idle_turns() const { return idle_turns_; }
    std::uint64_t events() const { return events_; }
    std::uint64_t spin_ns() const { return spin_ns_; }

    // Generates due messages on every dirty connection; hands out's bytes to
    // `start_send` when the connection has no send in flight.
    // Returns the number of sends started.
    template <class F>
    std::size_t flush(std::uint64_t now, F&& start_send) {
        std::size_t started = 0;
        work_.swap(dirty_);
        for (std::uint32_t i : work_) {
            connection& c = conns_[i];
            c.dirty = false;
            generate(c, now);
            if (!c.tx_busy && !c.out.empty()) {
                c.tx.swap(c.out);
                c.out.clear();
                c.tx_off = 0;
                c.tx_busy = true;
                start_send(c);
                ++started;
            }
        }
        work_.clear();
        return started;
    }

    // n bytes of c's send completed.
    void on_sent(connection& c, std::size_t n) {
        c.tx_off += n;
        if (c.tx_off < c.tx.size()) return;
        c.tx.clear();
        c.tx_off = 0;
        c.tx_busy = false;
        if (!c.out.empty() || (open_ && c.tx_seq < sched_.due_count(c.idx))) mark_dirty(c);
    }

    // Echoed bytes arrived on c at time now.
    void on_data(connection& c, const std::uint8_t* p, std::size_t n, std::uint64_t now) {
        while (n > 0) {
            if (c.rx_seq >= c.tx_seq) {  // more bytes than were ever sent
                ++verify_errors_;
                unexpected_bytes_ += n;
                return;
            }
            const std::size_t take = std::min(n, size_ - c.rx_off);
            if (!c.rx_bad && !codec_.matches(c.idx, c.rx_seq, c.rx_off, p, take)) c.rx_bad = true;
            c.rx_off += take;
            p += take;
            n -= take;
            if (c.rx_off == size_) complete(c, now);
        }
    }

    void fail(std::string why) {
        if (failure_.empty()) failure_ = std::move(why);
    }
    const std::string& failure() const { return failure_; }

    // Results.
    const log_histogram& latency() const { return lat_; }
    const log_histogram& send_lag() const { return lag_; }
    std::uint64_t msgs() const { return msgs_; }
    std::uint64_t verify_errors() const { return verify_errors_; }
    std::uint64_t unexpected_bytes() const { return unexpected_bytes_; }
    double window_s() const { return static_cast<double>(we_ - ws_) / 1e9; }
    std::uint64_t cpu_ns() const { return cpu1_ - cpu0_; }
    std::uint64_t user_ns() const { return tv_ns(ru1_.ru_utime) - tv_ns(ru0_.ru_utime); }
    std::uint64_t sys_ns() const { return tv_ns(ru1_.ru_stime) - tv_ns(ru0_.ru_stime); }
    // Messages in flight (sent, not yet echoed) or due and not yet sent when
    // the window closed: recorded into latency() at their age at the close
    // (a lower bound of their latency), so the slowest messages are not
    // silently dropped.
    std::uint64_t censored() const { return censored_; }
    // Open loop: messages due during the window, and the backlog (due but not
    // yet echoed) at its start and its end.
    std::uint64_t due_in_window() const { return due_end_ - due_start_; }
    std::uint64_t backlog_at_start() const { return backlog_start_; }
    std::uint64_t backlog_at_end() const { return backlog_end_; }
    // Open loop: the server did not keep up with the offered rate (see
    // kSaturatedShare in open_loop.hpp).
    bool saturated() const { return open_ && open_schedule::saturated(due_in_window(), msgs_, backlog_end_); }
    std::uint64_t outstanding() const {
        std::uint64_t n = 0;
        for (const auto& c : conns_) n += c.tx_seq - c.rx_seq;
        if (open_) n += sched_.due_total() - std::min<std::uint64_t>(sched_.due_total(), generated_total());
        return n;
    }

private:
    std::uint64_t echoed_total() const {
        std::uint64_t n = 0;
        for (const auto& c : conns_) n += c.rx_seq;
        return n;
    }
    // Due (open loop) or sent (closed loop) and not yet echoed.
    std::uint64_t backlog() const {
        if (!open_) return generated_total() - echoed_total();
        return sched_.due_total() - std::min(sched_.due_total(), echoed_total());
    }
    // Records every message not echoed by `now` at its age then (censored).
    void censor_unfinished(std::uint64_t now) {
        for (const auto& c : conns_) {
            const std::uint64_t last = open_ ? std::max(c.tx_seq, sched_.due_count(c.idx)) : c.tx_seq;
            for (std::uint64_t seq = c.rx_seq; seq < last; ++seq) {
                const std::uint64_t from = open_ ? sched_.intended(c.idx, seq) : c.sent_at;
                lat_.record(now - std::min(now, from));
                ++censored_;
            }
        }
    }
    std::uint64_t generated_total() const {
        std::uint64_t n = 0;
        for (const auto& c : conns_) n += c.tx_seq;
        return n;
    }
    void mark_dirty(connection& c) {
        if (c.dirty) return;
        c.dirty = true;
        dirty_.push_back(c.idx);
    }

    void append(connection& c) {
        const std::size_t at = c.out.size();
        c.out.resize(at + size_);
        codec_.write(c.idx, c.tx_seq, c.out.data() + at);
        ++c.tx_seq;
    }

    void generate(connection& c, std::uint64_t now) {
        if (done_) return;
        if (!open_) {
            if (c.tx_seq == c.rx_seq) {  // closed loop: exactly one in flight
                c.sent_at = now;
                append(c);
            }
            return;
        }
        const std::uint64_t due = sched_.due_count(c.idx);
        while (c.tx_seq < due && open_schedule::may_queue(c.out.size(), size_)) {
            if (in_window_) lag_.record(now - std::min(now, sched_.intended(c.idx, c.tx_seq)));
            append(c);
        }
    }

    void complete(connection& c, std::uint64_t now) {
        const std::uint64_t from = open_ ? sched_.intended(c.idx, c.rx_seq) : c.sent_at;
        if (in_window_) {
            lat_.record(now - std::min(now, from));
            ++msgs_;
        }
        if (c.rx_bad) ++verify_errors_;
        c.rx_bad = false;
        c.rx_off = 0;
        ++c.rx_seq;
        if (!open_) mark_dirty(c);
    }

    void start_window() {
        if (on_window_start) on_window_start();
        getrusage(RUSAGE_SELF, &ru0_);
        cpu0_ = process_cpu_ns();
        ws_ = now_ns();
        // The window lasts --duration from when it really started: a loop
        // turn that ran past the warm-up's end (a client stalled by a slow
        // server) must not shorten it, or a saturated server's window -- and
        // its sample count -- shrinks (seen: 0.012 s of a planned 0.2 s).
        we_target_ = ws_ + static_cast<std::uint64_t>(opt_.duration * 1e9);
        in_window_ = true;
        lat_.reset();
        lag_.reset();
        msgs_ = censored_ = 0;
        if (open_) sched_.advance(ws_, [&](std::uint32_t i) { mark_dirty(conns_[i]); });
        due_start_ = sched_.due_total();
        backlog_start_ = backlog();
        spin_ns_ = 0;
        turns_ = idle_turns_ = events_ = 0;
    }
    void end_window() {
        we_ = now_ns();
        cpu1_ = process_cpu_ns();
        getrusage(RUSAGE_SELF, &ru1_);
        if (open_) sched_.advance(we_, [](std::uint32_t) {});  // every message due by the close
        due_end_ = sched_.due_total();
        backlog_end_ = backlog();
        censor_unfinished(we_);
        in_window_ = false;
        done_ = true;
        if (on_window_end) on_window_end();
    }

    const options& opt_;
    wire_codec codec_;
    std::size_t size_;
    bool open_;
    open_schedule sched_;  // open loop only
    std::vector<connection> conns_;
    std::vector<std::uint32_t> dirty_, work_;
    std::uint64_t ws_target_ = 0, we_target_ = 0, ws_ = 0, we_ = 0;
    bool in_window_ = false, done_ = false, spin_ = false;
    std::uint64_t spin_ns_ = 0, turns_ = 0, idle_turns_ = 0, events_ = 0;
    log_histogram lat_, lag_;
    std::uint64_t msgs_ = 0, verify_errors_ = 0, unexpected_bytes_ = 0, censored_ = 0;
    std::uint64_t due_start_ = 0, due_end_ = 0, backlog_start_ = 0, backlog_end_ = 0;
    std::uint64_t cpu0_ = 0, cpu1_ = 0;
    rusage ru0_{}, ru1_{};
    std::string failure_;
};

// The loop both paths share: tick, flush sends, wait + process completions.
template <class Backend>
void run_loop(load_client& cl, Backend& io) {
    cl.begin(now_ns());
    io.start();
    for (;;) {
        std::uint64_t now = now_ns();
        cl.tick(now);
        if (cl.finished()) break;
        const std::size_t sent = cl.flush(now, [&](connection& c) { io.start_send(c); });
        const wait_plan plan = cl.plan_wait(now);
        const std::size_t events = io.wait_and_process(plan, cl.phase_edge());
        if (plan.spin && sent == 0 && events == 0) cl.add_spin(now_ns() - now);
        cl.count_turn(events);
        if (cl.finished()) break;
    }
}

inline std::string peer_error(const char* what, int res) {
    return std::string("server ") + what + ": " + errstr(res);
}

}  // namespace sy::load
