// sql: N clients querying a private MariaDB through Connector/C, on every model.
//
// What: bench_sql starts its own mariadbd once (127.0.0.1, a free port, an
// empty temp datadir, no persistence; benches/realserver/mariadb.hpp), loads
// table t (kRows rows whose values are functions of id), then each case makes
// requests() queries per iteration:
//   sql/<model>/query:Q/mode:sequential/concurrency:1    one client
//   sql/<model>/query:Q/mode:concurrent/concurrency:C    C clients, each on
//       its own connection and each a task of the model (a callback chain on
//       uring and libuv), sharing the same queries
// Q = point (SELECT id, v, s by primary key), range (kRangeRows rows by a
// key range), insert (one row into table ins). Connections are made before
// timing. The loop models and coroutine_mt use Connector/C's non-blocking
// API (mysql_real_query_start/_cont, mysql_store_result_start/_cont) and
// wait on the model's own readiness for the library's socket (rt.wait_fd,
// bounded by the library's timeout or kWaitBound); thread and pool use the
// blocking calls, as their users would.
// Every row is checked: its v and s must be the values of its id, ids the
// ones asked for, row counts exact, an insert must affect one row. Counters
// (per iteration): requests, rows, checksum (sum over returned rows of
// id + v + bytes of s; for inserts, of the v inserted), errors (0; a query
// error fails the case with the server's message). The checksum of every
// iteration is compared with the one computed from the table's formula.
// Why: claim 12, "async I/O against real servers improves throughput over
// sequential calls", for a database protocol driven through a client library
// that owns its socket (redis and http frame their protocol by hand).
// pool: one worker per client plus one for the main task. thread: a thread
// per client.
// Skips: built without libmariadb-dev, mariadbd missing (apt install
// mariadb-server), or SY_NO_PEERS=1 (`switchyard run --no-peers`).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

#if SY_HAVE_MARIADB
#include "benches/realserver/client.hpp"
#include "benches/realserver/mariadb.hpp"
#endif
#include "benches/realserver/pyclient.hpp"

namespace {

using sy::bench::pick;

constexpr int kRangeRows = 100;       // rows of one range query
constexpr std::uint64_t kKeyStride = 7919;  // a prime: a client's keys spread over the table
// Queries per iteration, any concurrency (a multiple of every concurrency).
constexpr std::uint64_t kSmokeRequests = 20, kQuickRequests = 200, kRequests = 400;
constexpr int kSmokeConcurrency[] = {10};
constexpr int kConcurrency[] = {10};
constexpr int kExtendedConcurrency[] = {10, 100};
constexpr auto kWaitBound = std::chrono::seconds(10);  // a wait the library did not bound itself

enum class query { point, range, insert };
constexpr const char* query_name(query q) {
    return q == query::point ? "point" : q == query::range ? "range" : "insert";
}

// concurrency:100 and the insert query: the default run's budget holds the
// rest (README, "sql"); `switchyard run --full` (opts().full) adds them, and
// the smoke tier always has them (every code path checked in ctest).
bool extended() {
    return sy::bench::opts().full || sy::bench::opts().size == sy::bench::tier::smoke;
}

std::uint64_t requests() { return pick(kSmokeRequests, kQuickRequests, kRequests); }

#if SY_HAVE_MARIADB
namespace rs = sy::realserver;

static_assert(sy::kWaitRead == MYSQL_WAIT_READ && sy::kWaitWrite == MYSQL_WAIT_WRITE &&
                  sy::kWaitExcept == MYSQL_WAIT_EXCEPT && sy::kWaitTimeout == MYSQL_WAIT_TIMEOUT,
              "wait_fd's bits are Connector/C's, passed through unchanged");

// One client: its connection, its share of the queries, their checks.
struct sql_client {
    rs::mysql_ptr m;
    query q;
    int id;
    std::uint64_t each;       // queries per iteration
    std::uint64_t first_key;  // of its first query
    std::uint64_t next = 0;   // queries made this iteration
    std::uint64_t rows = 0, iter_checksum = 0;
    bool broken = false;  // an error: this client stops
    rs::reply_stats stats;
    char sql[128];
    std::size_t sql_len = 0;

    sql_client(query what, int client, std::uint64_t n, bool nonblock)
        : m(rs::mysql_handle(nonblock)), q(what), id(client), each(n),
          first_key((std::uint64_t(client) * n * kKeyStride) % rs::kRows) {}

    void restart() {
        next = 0;
        iter_checksum = 0;
    }
    bool left() const { return !broken && next < each; }
    std::uint64_t key(std::uint64_t i) const {
        const std::uint64_t k = (first_key + i * kKeyStride) % rs::kRows;
        return q == query::range ? k % (rs::kRows - kRangeRows + 1) : k;
    }
    void begin() {
        const unsigned long long k = key(next);
        int n = 0;
        switch (q) {
            case query::point: n = std::snprintf(sql, sizeof sql, "SELECT id, v, s FROM t WHERE id = %llu", k); break;
            case query::range:
                n = std::snprintf(sql, sizeof sql, "SELECT id, v, s FROM t WHERE id BETWEEN %llu AND %llu ORDER BY id",
                                  k, k + kRangeRows - 1);
                break;
            case query::insert:
                n = std::snprintf(sql, sizeof sql, "INSERT INTO ins (client, v) VALUES (%d, %llu)", id,
                                  static_cast<unsigned long long>(rs::row_v(k)));
                break;
        }
        sql_len = std::size_t(n);
    }
    // The checksum one iteration of this client must produce.
    std::uint64_t expected() const {
        std::uint64_t sum = 0;
        for (std::uint64_t i = 0; i < each; ++i) {
            const std::uint64_t k = key(i);
            if (q == query::insert)
                sum += rs::row_v(k);
            else
                for (int r = 0; r < (q == query::range ? kRangeRows : 1); ++r) sum += rs::row_checksum(k + r);
        }
        return sum;
    }
    void fail(std::string why) {
        broken = true;
        stats.fail(std::move(why));
    }
    // A wait's result before it goes back to Connector/C: false on an error
    // or when our own bound passed (the library did not ask for a timeout).
    bool waited(sy::io_result r, int status) {
        if (r < 0) {
            fail("waiting for the server: " + sy::errno_text(int(-r)));
            return false;
        }
        if (r == sy::kWaitTimeout && !(status & MYSQL_WAIT_TIMEOUT)) {
            fail("no reply within " + std::to_string(kWaitBound.count()) + " s");
            return false;
        }
        return true;
    }
    // After a query (err: mysql_real_query's result) and its stored result.
    bool check(int err, MYSQL_RES* res) {
        MYSQL* h = m.get();
        if (err != 0 || mysql_errno(h) != 0) {
            fail(std::string("query failed: ") + mysql_error(h) + " (" + sql + ")");
            return false;
        }
        const std::uint64_t k = key(next);
        std::uint64_t sum = 0, got_rows = 0;
        if (q == query::insert) {
            if (res || mysql_affected_rows(h) != 1) {
                fail("INSERT affected " + std::to_string(mysql_affected_rows(h)) + " rows, not 1");
                return false;
            }
            sum = rs::row_v(k);
            got_rows = 1;
        } else {
            const std::uint64_t want = q == query::range ? kRangeRows : 1;
            if (!res || mysql_num_fields(res) != 3 || mysql_num_rows(res) != want) {
                fail(std::string(sql) + ": " + (res ? std::to_string(mysql_num_rows(res)) : "no") +
                     " rows, not " + std::to_string(want));
                return false;
            }
            for (std::uint64_t i = 0; i < want; ++i) {
                MYSQL_ROW row = mysql_fetch_row(res);
                unsigned long* len = mysql_fetch_lengths(res);
                if (!row || !len || !row[0] || !row[1] || !row[2]) {
                    fail(std::string(sql) + ": row " + std::to_string(i) + " missing or NULL");
                    return false;
                }
                const std::uint64_t id = std::strtoull(row[0], nullptr, 10), v = std::strtoull(row[1], nullptr, 10);
                const std::string s = rs::row_s(id);
                if (id != k + i || v != rs::row_v(id) || len[2] != s.size() || std::memcmp(row[2], s.data(), s.size()) != 0) {
                    fail(std::string(sql) + ": row " + std::to_string(i) + " is (" + row[0] + ", " + row[1] + ", " +
                         row[2] + "), not the table's row " + std::to_string(k + i));
                    return false;
                }
                sum += id + v + rs::text_sum(row[2], len[2]);
            }
            got_rows = want;
        }
        ++stats.requests;
        stats.checksum += sum;
        iter_checksum += sum;
        rows += got_rows;
        ++next;
        return true;
    }
};

// The loop models and coroutine_mt suspend at awaits: they drive the
// non-blocking API; thread and pool block in the plain calls.
template <class R>
constexpr bool kNonBlocking = !sy::task_runner<R> || sy::bench::suspends_at_awaits<R>;

template <class R>
auto wait_for(R& rt, MYSQL* m, int status) {
    const auto bound = (status & MYSQL_WAIT_TIMEOUT)
                           ? std::chrono::nanoseconds(std::chrono::milliseconds(mysql_get_timeout_value_ms(m)))
                           : std::chrono::nanoseconds(kWaitBound);
    return rt.wait_fd(mysql_get_socket(m), unsigned(status) & (sy::kWaitRead | sy::kWaitWrite | sy::kWaitExcept),
                      bound);
}

// ---- task models ------------------------------------------------------------------

template <class R>
sy::task_t<R, void> task_client(R& rt, sql_client& c) {
    MYSQL* m = c.m.get();
    while (c.left()) {
        c.begin();
        int err = 0;
        MYSQL_RES* res = nullptr;
        if constexpr (kNonBlocking<R>) {
            int st = mysql_real_query_start(&err, m, c.sql, c.sql_len);
            while (st != 0) {
                sy::io_result r = co_await wait_for(rt, m, st);
                if (!c.waited(r, st)) co_return;
                st = mysql_real_query_cont(&err, m, int(r));
            }
            if (err == 0) {
                st = mysql_store_result_start(&res, m);
                while (st != 0) {
                    sy::io_result r = co_await wait_for(rt, m, st);
                    if (!c.waited(r, st)) co_return;
                    st = mysql_store_result_cont(&res, m, int(r));
                }
            }
        } else {
            err = mysql_real_query(m, c.sql, c.sql_len);
            if (err == 0) res = mysql_store_result(m);
        }
        const bool ok = c.check(err, res);
        if (res) mysql_free_result(res);
        if (!ok) co_return;
    }
}

template <class R>
sy::task_t<R, void> task_main(R& rt, benchmark::State& state, std::vector<sql_client>& cs,
                         sy::bench::iteration_check& check, sy::bench::thread_peak& threads) {
    for (auto _ : state) {
        std::vector<typename R::template join_handle<void>> hs;
        hs.reserve(cs.size());
        for (auto& c : cs) {
            c.restart();
            hs.push_back(rt.spawn(task_client(rt, c)));
        }
        threads.sample_once();
        for (auto& h : hs) co_await h.join();
        std::uint64_t sum = 0;
        for (const auto& c : cs) sum += c.iter_checksum;
        check.record(sum);
    }
}

// ---- callback models --------------------------------------------------------------

template <class R>
struct cb_client {
    R& rt;
    sql_client& c;
    int err = 0;
    MYSQL_RES* res = nullptr;
    bool storing = false;  // phase: the query, then its result

    void start() {
        if (!c.left()) return;
        c.begin();
        storing = false;
        step(mysql_real_query_start(&err, c.m.get(), c.sql, c.sql_len));
    }
    // Connector/C returned `st`: wait for what it asks, or go to the next phase.
    void step(int st) {
        MYSQL* m = c.m.get();
        if (st != 0) {
            rt.wait_fd(mysql_get_socket(m), unsigned(st) & (sy::kWaitRead | sy::kWaitWrite | sy::kWaitExcept),
                       (st & MYSQL_WAIT_TIMEOUT)
                           ? std::chrono::nanoseconds(std::chrono::milliseconds(mysql_get_timeout_value_ms(m)))
                           : std::chrono::nanoseconds(kWaitBound),
                       [this, st](sy::io_result r) {
                           if (!c.waited(r, st)) return;
                           MYSQL* h = c.m.get();
                           step(storing ? mysql_store_result_cont(&res, h, int(r)) : mysql_real_query_cont(&err, h, int(r)));
                       });
            return;
        }
        if (!storing && err == 0) {
            storing = true;
            return step(mysql_store_result_start(&res, m));
        }
        const bool ok = c.check(err, res);
        if (res) mysql_free_result(res);
        res = nullptr;
        if (ok) start();
    }
};

template <class R>
void callback_main(R& rt, benchmark::State& state, std::vector<sql_client>& cs,
                   sy::bench::iteration_check& check, sy::bench::thread_peak& threads) {
    std::vector<cb_client<R>> clients;
    clients.reserve(cs.size());
    for (auto& c : cs) clients.push_back({rt, c});
    for (auto _ : state) {
        for (auto& cl : clients) {
            cl.c.restart();
            cl.start();
        }
        rt.run();
        threads.sample_once();
        std::uint64_t sum = 0;
        for (const auto& c : cs) sum += c.iter_checksum;
        check.record(sum);
    }
}

// ---- one case ---------------------------------------------------------------------

const rs::mariadb_server* server(benchmark::State& state) {
    return rs::shared_server<rs::mariadb_server>(state, rs::kMariadbd,
                                                 "mariadbd not installed (apt install mariadb-server)");
}

void finish(benchmark::State& state, const std::vector<sql_client>& cs, const sy::bench::iteration_check& check,
            bool pinned) {
    rs::reply_stats total;
    std::uint64_t rows = 0, want = 0;
    for (const auto& c : cs) {
        total.add(c.stats);
        rows += c.rows;
        want += c.expected();
    }
    if (!rs::no_errors(state, total)) return;
    const std::uint64_t iters = std::uint64_t(state.iterations());
    if (!sy::bench::expect_eq(state, "requests", total.requests, iters * requests())) return;
    if (!check.expect(state, "checksum", want)) return;
    sy::bench::counter(state, "requests", double(requests()));
    sy::bench::counter(state, "rows", double(rows / iters));
    sy::bench::counter(state, "checksum", double(want));
    sy::bench::counter(state, "errors", 0);
    sy::bench::counter(state, "concurrency", double(cs.size()));
    sy::bench::counter(state, "pinned", pinned ? 1 : 0);
    state.SetItemsProcessed(std::int64_t(iters * requests()));
}

template <class R>
void sql_case(benchmark::State& state, query q, int concurrency) {
    const rs::mariadb_server* s = server(state);
    if (!s) return;
    const rs::client_pin pin(s->srv);
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto with_runner = [&](R& rt) {
            std::vector<sql_client> cs;
            cs.reserve(std::size_t(concurrency));
            const std::uint64_t each = requests() / std::uint64_t(concurrency);
            for (int i = 0; i < concurrency; ++i) {
                cs.emplace_back(q, i, each, kNonBlocking<R>);
                std::string err = rs::mysql_connect(cs.back().m.get(), s->port());
                if (!err.empty()) {
                    state.SkipWithError(err.c_str());
                    return;
                }
            }
            sy::bench::iteration_check check;
            if constexpr (sy::task_runner<R>)
                rt.run(task_main(rt, state, cs, check, threads));
            else
                callback_main(rt, state, cs, check, threads);
            finish(state, cs, check, pin.pinned());
        };
        if constexpr (sy::task_runner<R>) {
            with_runner(*sy::bench::make_runner<R>({.workers = unsigned(concurrency) + 1}));
        } else {
            R rt;
            with_runner(rt);
        }
        threads.publish(state);
    });
}
// The Python client (runners/peers/py_aiomysql.py, aiomysql): the same
// queries, keys and checks as sql_case, in a child process
// (benches/realserver/pyclient.hpp); its checksum must be the one the C++
// clients of the case compute (sql_client::expected).
void py_case(benchmark::State& state, query q, int concurrency, const std::string& loop) {
    const rs::mariadb_server* s = server(state);
    if (!s) return;
    const std::uint64_t each = requests() / std::uint64_t(concurrency);
    std::uint64_t want = 0;
    for (int i = 0; i < concurrency; ++i) want += sql_client(q, i, each, false).expected();
    sy::realserver::py::run_case(
        state, s->srv, "py_aiomysql.py",
        {"--query", query_name(q), "--mode", concurrency == 1 ? "sequential" : "concurrent", "--concurrency",
         std::to_string(concurrency), "--requests", std::to_string(requests()), "--user", rs::kSqlUser, "--db",
         rs::kSqlDatabase},
        loop, {requests(), want}, "aiomysql", "python3-aiomysql");
}
#endif  // SY_HAVE_MARIADB

template <class T, std::size_t N>
std::vector<int> v(const T (&a)[N]) {
    return {std::begin(a), std::end(a)};
}

// Every (query, mode, concurrency) of one model.
template <class Fn>
void register_model(std::string_view model, Fn fn) {
    const std::vector<int> cs =
        extended() ? pick(v(kSmokeConcurrency), v(kExtendedConcurrency), v(kExtendedConcurrency))
                   : pick(v(kSmokeConcurrency), v(kConcurrency), v(kConcurrency));
    std::vector<query> qs = {query::point, query::range};
    if (extended()) qs.push_back(query::insert);
    for (query q : qs) {
        std::vector<std::pair<std::string, int>> modes = {{"sequential", 1}};
        for (int c : cs) modes.emplace_back("concurrent", c);
        for (const auto& [mode, c] : modes)
            sy::bench::add(sy::bench::name("sql", model,
                                           {{"query", query_name(q)}, {"mode", mode}, {"concurrency", std::to_string(c)}}),
                           [fn, q, c = c](benchmark::State& st) { fn(st, q, c); });
    }
}

// sql/py_aiomysql/query:Q/mode:M/concurrency:C/loop:L: the C++ rows' params
// (claim 12 pairs them alike) and the event loop. The default run: query
// point, sequential and concurrency:10 (its C++ rows' largest), asyncio's
// loop (py::loops) -- 2 rows, the run's 15-minute budget; smoke: the same
// at its concurrency on both loops; `run --full` adds the C++ rows' whole
// sweep (range, insert, concurrency:100) and uvloop.
template <class Fn>
void register_py(Fn fn) {
    if (!sy::realserver::py::wanted()) return;
    const bool more = sy::bench::opts().full;
    const std::vector<int> cs = more ? pick(v(kSmokeConcurrency), v(kExtendedConcurrency), v(kExtendedConcurrency))
                                     : pick(v(kSmokeConcurrency), v(kConcurrency), v(kConcurrency));
    std::vector<query> qs = {query::point};
    if (more) qs.insert(qs.end(), {query::range, query::insert});
    for (query q : qs) {
        std::vector<std::pair<std::string, int>> modes = {{"sequential", 1}};
        for (int c : cs) modes.emplace_back("concurrent", c);
        for (const auto& [mode, c] : modes)
            for (const std::string& loop : sy::realserver::py::loops())
                sy::bench::add_manual_time(
                    sy::bench::name("sql", "py_aiomysql",
                                    {{"query", query_name(q)}, {"mode", mode}, {"concurrency", std::to_string(c)},
                                     {"loop", loop}}),
                    [fn, q, c = c, loop](benchmark::State& st) { fn(st, q, c, loop); })
                    ->Iterations(1);
    }
}

}  // namespace

SY_WORKLOAD(sql) {
#if SY_HAVE_MARIADB
    sy::bench::for_each_task_model([&]<class R>() { register_model(R::name, &sql_case<R>); });
    sy::bench::for_each_callback_model([&]<class R>() { register_model(R::name, &sql_case<R>); });
    register_py(&py_case);
#else
    auto skipped = [](benchmark::State& st, query, int) {
        sy::bench::skip(st, "built without Connector/C (apt install libmariadb-dev, then reconfigure)");
    };
    sy::bench::for_each_task_model([&]<class R>() { register_model(R::name, skipped); });
    sy::bench::for_each_callback_model([&]<class R>() { register_model(R::name, skipped); });
    register_py([](benchmark::State& st, query, int, const std::string&) {
        sy::bench::skip(st, "built without Connector/C (apt install libmariadb-dev, then reconfigure)");
    });
#endif
}
