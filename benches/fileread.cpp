// fileread: random 4 KiB reads at queue depth 1 and 32 from a temporary
// file, page cache warm (direct:0) and with O_DIRECT (direct:1), per model.
//
// What: reads per second (items_per_second); every block starts with its
// index, so each read is checked and the sum of indices is the checksum.
// Why: "coroutines make all I/O asynchronous" -- not file I/O on readiness
// loops: a regular file is always "ready", so on epoll (coroutine, fiber)
// the read runs synchronously on the loop's thread and queue depth buys
// nothing (labelled io:sync). io_uring (uring, coroutine_uring) has real
// asynchronous file reads; libuv runs them on its thread pool (uv_fs_read,
// 4 threads unless UV_THREADPOOL_SIZE); thread and pool block OS threads.
// The file (size by tier, in $TMPDIR) is created and filled once per
// process, read once to warm the cache, and removed when the process ends
// (it is unlinked while open). O_DIRECT is skipped with the reason where the
// filesystem refuses it.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

using sy::bench::pick;

constexpr std::size_t kBlock = 4096;
constexpr int kDepths[] = {1, 32};
constexpr std::uint64_t kSmokeFileMiB = 8, kQuickFileMiB = 64, kFullFileMiB = 256;
constexpr std::uint64_t kSmokeReads = 256, kReads = 20'000;  // per iteration
constexpr std::uint64_t kDirectReads = 2'000;  // O_DIRECT reads go to the disk: ~50 us each

std::uint64_t blocks() { return pick(kSmokeFileMiB, kQuickFileMiB, kFullFileMiB) * (1 << 20) / kBlock; }
bool g_direct = false;  // set by each benchmark before it runs (one at a time)
std::uint64_t reads() { return g_direct ? pick(kSmokeReads, kDirectReads, kDirectReads) : pick(kSmokeReads, kReads, kReads); }

// The block read by the k-th read of stream s (a fixed pseudo-random walk).
std::uint64_t block_of(std::uint64_t s, std::uint64_t k) {
    std::uint64_t x = (s + 1) * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return x % blocks();
}

// The shared temporary file: a buffered fd and, if allowed, an O_DIRECT fd.
struct test_file {
    int buffered = -1, direct = -1;
    std::string error, direct_error;
};

const test_file& the_file() {
    static test_file f = [] {
        test_file t;
        const char* dir = std::getenv("TMPDIR");
        std::string path = std::string(dir && *dir ? dir : "/tmp") + "/switchyard-fileread-XXXXXX";
        int fd = mkstemp(path.data());
        if (fd < 0) {
            t.error = "cannot create a file in " + path + ": " + sy::errno_text(errno);
            return t;
        }
        std::vector<char> chunk(kBlock * 256);
        const std::uint64_t n = blocks();
        for (std::uint64_t b = 0; b < n;) {
            std::size_t in_chunk = 0;
            for (; in_chunk < 256 && b < n; ++in_chunk, ++b)
                std::memcpy(chunk.data() + in_chunk * kBlock, &b, sizeof b);
            if (::write(fd, chunk.data(), in_chunk * kBlock) != ssize_t(in_chunk * kBlock)) {
                t.error = "cannot fill " + path + ": " + sy::errno_text(errno);
                break;
            }
        }
        fsync(fd);
        t.direct = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (t.direct < 0) t.direct_error = "O_DIRECT refused by the filesystem of " + path + ": " + sy::errno_text(errno);
        unlink(path.c_str());  // gone when the process ends
        t.buffered = fd;
        for (std::uint64_t off = 0; off < n * kBlock; off += chunk.size())  // warm the page cache
            if (::pread(fd, chunk.data(), chunk.size(), off_t(off)) <= 0) break;
        return t;
    }();
    return f;
}

struct aligned_buffer {
    std::unique_ptr<char, decltype(&std::free)> p{nullptr, &std::free};
    aligned_buffer() {
        void* raw = nullptr;
        if (posix_memalign(&raw, kBlock, kBlock) == 0) p.reset(static_cast<char*>(raw));
    }
};

// One stream of reads (a task): returns the sum of block indices read, or
// UINT64_MAX if any read was short or returned the wrong block.
template <class R>
sy::task_t<R, std::uint64_t> stream(R& rt, int fd, std::uint64_t s, std::uint64_t count) {
    aligned_buffer buf;
    std::uint64_t sum = 0;
    for (std::uint64_t k = 0; k < count; ++k) {
        std::uint64_t b = block_of(s, k);
        sy::io_result n = co_await rt.pread(fd, buf.p.get(), kBlock, off_t(b * kBlock));
        std::uint64_t got = UINT64_MAX;
        if (n == sy::io_result(kBlock)) std::memcpy(&got, buf.p.get(), sizeof got);
        if (got != b) co_return UINT64_MAX;
        sum += b;
    }
    co_return sum;
}

std::uint64_t expected(int depth) {
    std::uint64_t sum = 0, per = reads() / std::uint64_t(depth);
    for (int s = 0; s < depth; ++s)
        for (std::uint64_t k = 0; k < per; ++k) sum += block_of(std::uint64_t(s), k);
    return sum;
}

// Every iteration's sum is checked (iteration_check), not only the last one's;
// UINT64_MAX marks an iteration with a short or wrong block.
void finish(benchmark::State& state, int depth, const sy::bench::iteration_check& check) {
    if (check.value() == UINT64_MAX) return state.SkipWithError("a read returned a short or wrong block");
    if (!check.expect(state, "checksum", expected(depth))) return;
    const std::uint64_t sum = check.value();
    const std::uint64_t n = reads() / std::uint64_t(depth) * std::uint64_t(depth);
    sy::bench::counter(state, "reads", double(n));
    sy::bench::counter(state, "bytes", double(n * kBlock));
    sy::bench::counter(state, "checksum", double(sum));
    state.SetItemsProcessed(std::int64_t(state.iterations() * n));
    state.SetBytesProcessed(std::int64_t(state.iterations() * n * kBlock));
}

int pick_fd(benchmark::State& state, bool direct) {
    g_direct = direct;
    const test_file& f = the_file();
    if (!f.error.empty()) {
        sy::bench::skip(state, f.error);
        return -1;
    }
    if (direct && f.direct < 0) {
        sy::bench::skip(state, f.direct_error);
        return -1;
    }
    return direct ? f.direct : f.buffered;
}

template <class R>
sy::task_t<R> fileread_main(R& rt, benchmark::State& state, int fd, int depth,
                             sy::bench::iteration_check& check,
                             sy::bench::thread_peak& threads) {
    const std::uint64_t per = reads() / std::uint64_t(depth);
    std::vector<typename R::template join_handle<std::uint64_t>> hs;
    for (auto _ : state) {
        for (int s = 0; s < depth; ++s) hs.push_back(rt.spawn(stream(rt, fd, std::uint64_t(s), per)));
        std::uint64_t total = 0;
        for (auto& h : hs) {
            std::uint64_t v = co_await h.join();
            threads.sample_once();  // other streams still reading: their threads exist
            total = (v == UINT64_MAX || total == UINT64_MAX) ? UINT64_MAX : total + v;
        }
        hs.clear();
        check.record(total);
    }
}

template <class R>
void fileread_task(benchmark::State& state, int depth, bool direct) {
    int fd = pick_fd(state, direct);
    if (fd < 0) return;
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto rt = sy::bench::make_runner<R>({});
        sy::bench::iteration_check check;
        rt->run(fileread_main(*rt, state, fd, depth, check, threads));
        finish(state, depth, check);
        threads.publish(state);
    });
}

// Callback models: `depth` reads in flight; each completion issues the next.
template <class R>
struct cb_reader {
    R& rt;
    int fd;
    std::uint64_t per, sum = 0;
    bool broken = false;
    std::vector<aligned_buffer> bufs;

    void next(std::uint64_t s, std::uint64_t k) {
        if (k == per) return;
        std::uint64_t b = block_of(s, k);
        char* buf = bufs[std::size_t(s)].p.get();
        rt.pread(fd, buf, kBlock, off_t(b * kBlock), [this, s, k, b, buf](sy::io_result n) {
            std::uint64_t got = UINT64_MAX;
            if (n == sy::io_result(kBlock)) std::memcpy(&got, buf, sizeof got);
            if (got != b) broken = true;
            sum += b;
            next(s, k + 1);
        });
    }
};

template <class R>
void fileread_callback(benchmark::State& state, int depth, bool direct) {
    int fd = pick_fd(state, direct);
    if (fd < 0) return;
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        R rt;
        sy::bench::iteration_check check;
        for (auto _ : state) {
            cb_reader<R> r{rt, fd, reads() / std::uint64_t(depth), 0, false,
                           std::vector<aligned_buffer>(std::size_t(depth))};
            for (int s = 0; s < depth; ++s) r.next(std::uint64_t(s), 0);
            rt.run();
            threads.sample_once();  // libuv's fs threadpool, io_uring's io-wq workers
            check.record(r.broken ? UINT64_MAX : r.sum);
        }
        finish(state, depth, check);
        threads.publish(state);
    });
}

// Models whose pread is truly asynchronous (io_uring) or off the caller's
// thread (pool, thread); the readiness loops and coroutine_mt read synchronously
// (on the task's worker).
template <class R>
constexpr bool sync_reads = sy::bench::suspends_at_awaits<R> && !sy::needs_uring<R>;

}  // namespace

SY_WORKLOAD(fileread) {
    using sy::bench::add;
    using sy::bench::name;
    for (bool direct : {false, true})
        for (int depth : kDepths) {
            auto params = [&](std::string_view model, bool sync) {
                std::initializer_list<sy::bench::param> base = {
                    {"qd", std::to_string(depth)}, {"direct", direct ? "1" : "0"}};
                std::vector<sy::bench::param> p(base);
                if (sync) p.push_back({"io", "sync"});
                std::string n = name("fileread", model);
                for (auto& [k, v] : p) n += "/" + std::string(k) + ":" + v;
                return n;
            };
            sy::bench::for_each_task_model([&]<class R>() {
                add(params(R::name, sync_reads<R>),
                    [depth, direct](benchmark::State& st) { fileread_task<R>(st, depth, direct); });
            });
            sy::bench::for_each_callback_model([&]<class R>() {
                add(params(R::name, false),
                    [depth, direct](benchmark::State& st) { fileread_callback<R>(st, depth, direct); });
            });
        }
}
