// A private MariaDB server for the sql workload (benches/sql.cpp) and for any
// other client that should query the same data (a Python client started as a
// child process: hand it `env()`).
//
// What: mariadbd on an empty temporary datadir (/tmp/switchyard-sql-<pid>-*,
// removed at exit), listening on 127.0.0.1:<free port> and on <dir>/sock,
// no binary log, no flush at commit, no grant tables, killed with the bench
// (benches/realserver/process.hpp). Once it answers, it gets database `sy`
// with table `t` of kRows rows (id, v, s) whose values are pure functions of
// id (row_v, row_s below), and an empty table `ins` for inserts.
//
// Why no mariadb-install-db: on the 2-core test machine it took 3.8 s per
// bench process (the full run's budget is 15 min), while mariadbd starts on
// an empty datadir in ~0.3 s with --skip-grant-tables. The server holds
// nothing but this generated table, listens only on loopback and a socket in
// a private dir, and lives as long as the bench; any user name is accepted
// (we use root, no password).
//
// For another language's client, the values are:
//   v(id) = (id * 2654435761) mod 1000000007
//   s(id) = 16 letters, letter j = 'a' + (id * 7 + j * 13) mod 26
// and a row's checksum is id + v + the sum of the bytes of s.
#pragma once

#include <mysql.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benches/realserver/process.hpp"

namespace sy::realserver {

inline constexpr const char* kMariadbd = "/usr/sbin/mariadbd";
inline constexpr int kRows = 10'000;           // rows of table t, ids 0 .. kRows-1
inline constexpr int kTextSize = 16;           // bytes of column s
inline constexpr int kLoadBatch = 1000;        // rows per INSERT while loading
inline constexpr unsigned kIoTimeoutS = 10;    // Connector/C connect/read/write timeouts
inline constexpr const char* kSqlUser = "root";
inline constexpr const char* kSqlDatabase = "sy";

inline std::uint64_t row_v(std::uint64_t id) { return (id * 2654435761ull) % 1000000007ull; }
inline std::string row_s(std::uint64_t id) {
    std::string s(kTextSize, 'a');
    for (int j = 0; j < kTextSize; ++j) s[std::size_t(j)] = char('a' + (id * 7 + std::uint64_t(j) * 13) % 26);
    return s;
}
inline std::uint64_t text_sum(const char* p, std::size_t n) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += static_cast<unsigned char>(p[i]);
    return sum;
}
inline std::uint64_t row_checksum(std::uint64_t id) {
    const std::string s = row_s(id);
    return id + row_v(id) + text_sum(s.data(), s.size());
}

// Owns a MYSQL handle (mysql_close on destruction).
struct mysql_closer {
    void operator()(MYSQL* m) const { mysql_close(m); }
};
using mysql_ptr = std::unique_ptr<MYSQL, mysql_closer>;

// A new handle with bounded connect/read/write; `nonblock`: usable with the
// *_start/*_cont API too (MYSQL_OPT_NONBLOCK, set before connecting).
inline mysql_ptr mysql_handle(bool nonblock, unsigned timeout_s = kIoTimeoutS) {
    static const int init = mysql_library_init(0, nullptr, nullptr);  // once, before any thread uses it
    (void)init;
    mysql_ptr m(mysql_init(nullptr));
    if (!m) throw resource_error("mysql_init: out of memory");
    mysql_options(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
    mysql_options(m.get(), MYSQL_OPT_READ_TIMEOUT, &timeout_s);
    mysql_options(m.get(), MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
    if (nonblock) mysql_options(m.get(), MYSQL_OPT_NONBLOCK, nullptr);
    return m;
}

// Connects over TCP to 127.0.0.1:port; "" or the error.
inline std::string mysql_connect(MYSQL* m, int port, const char* db = kSqlDatabase) {
    if (!mysql_real_connect(m, "127.0.0.1", kSqlUser, nullptr, db, unsigned(port), nullptr, 0))
        return std::string("connect to 127.0.0.1:") + std::to_string(port) + ": " + mysql_error(m);
    return "";
}

// One statement; "" or the server's message.
inline std::string mysql_run(MYSQL* m, const std::string& sql) {
    if (mysql_real_query(m, sql.data(), sql.size()) != 0) return mysql_error(m);
    if (MYSQL_RES* r = mysql_store_result(m)) mysql_free_result(r);
    return mysql_errno(m) ? mysql_error(m) : "";
}

// The first column of the first row of a query ("" on error: see `error`).
inline std::string mysql_scalar(MYSQL* m, const std::string& sql, std::string& error) {
    if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
        error = mysql_error(m);
        return "";
    }
    MYSQL_RES* r = mysql_store_result(m);
    if (!r) {
        error = mysql_errno(m) ? mysql_error(m) : "no result set";
        return "";
    }
    MYSQL_ROW row = mysql_fetch_row(r);
    std::string v = row && row[0] ? row[0] : "";
    if (!row) error = "no row";
    mysql_free_result(r);
    return v;
}

// Creates and fills sy.t and sy.ins, then checks COUNT and SUM; "" or why not.
inline std::string load_tables(int port) {
    mysql_ptr m = mysql_handle(false);
    std::string err = mysql_connect(m.get(), port, nullptr);
    if (!err.empty()) return err;
    for (const char* sql : {"CREATE DATABASE sy", "USE sy",
                            "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v BIGINT NOT NULL, s CHAR(16) NOT NULL) "
                            "ENGINE=InnoDB",
                            "CREATE TABLE ins (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, client INT NOT NULL, "
                            "v BIGINT NOT NULL) ENGINE=InnoDB"}) {
        err = mysql_run(m.get(), sql);
        if (!err.empty()) return std::string(sql) + ": " + err;
    }
    std::uint64_t want_v = 0;
    for (int first = 0; first < kRows; first += kLoadBatch) {
        std::string sql = "INSERT INTO t (id, v, s) VALUES ";
        for (int id = first; id < first + kLoadBatch && id < kRows; ++id) {
            if (id != first) sql += ',';
            sql += "(" + std::to_string(id) + "," + std::to_string(row_v(std::uint64_t(id))) + ",'" +
                   row_s(std::uint64_t(id)) + "')";
            want_v += row_v(std::uint64_t(id));
        }
        err = mysql_run(m.get(), sql);
        if (!err.empty()) return "loading table t: " + err;
    }
    std::string got = mysql_scalar(m.get(), "SELECT CONCAT(COUNT(*), ' ', SUM(v)) FROM t", err);
    const std::string want = std::to_string(kRows) + " " + std::to_string(want_v);
    if (!err.empty()) return "checking table t: " + err;
    if (got != want) return "table t holds '" + got + "' (rows, sum of v), not '" + want + "'";
    return "";
}

// The bench's server: started on first use (rs::shared_server), stopped and
// its datadir removed at exit.
struct mariadb_server {
    managed_server srv;
    std::string error;

    mariadb_server()
        : srv("sql", "mariadbd",
              [](int port, const std::string& dir) -> std::vector<std::string> {
                  std::vector<std::string> argv = {
                      kMariadbd, "--no-defaults", "--datadir=" + dir + "/data", "--socket=" + dir + "/sock",
                      "--pid-file=" + dir + "/mariadbd.pid", "--tmpdir=" + dir, "--port=" + std::to_string(port),
                      "--bind-address=127.0.0.1", "--skip-log-bin", "--skip-grant-tables", "--skip-name-resolve",
                      "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--innodb-fast-shutdown=2",
                      "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--performance-schema=OFF",
                      "--max-connections=256"};
                  if (::geteuid() == 0) argv.push_back("--user=root");  // mariadbd refuses root otherwise
                  return argv;
              },
              [](const std::string& dir) { std::filesystem::create_directory(dir + "/data"); },
              [](int port, const std::string& dir) {
                  // Our server, not another process on that port: its datadir.
                  mysql_ptr m = mysql_handle(false, 1);
                  if (!mysql_connect(m.get(), port, nullptr).empty()) return false;
                  std::string err;
                  std::string got = mysql_scalar(m.get(), "SELECT @@datadir", err);
                  return err.empty() && std::filesystem::path(got).lexically_normal() ==
                                            std::filesystem::path(dir + "/data/").lexically_normal();
              }) {
        error = srv.error;
        if (error.empty()) error = load_tables(srv.port);
    }

    int port() const { return srv.port; }
    std::string socket_path() const { return srv.dir ? srv.dir->path() + "/sock" : ""; }
    // What a client in another process needs (SY_MARIADB_HOST, _PORT,
    // _SOCKET, _USER, _DATABASE; no password).
    std::vector<std::pair<std::string, std::string>> env() const {
        return {{"SY_MARIADB_HOST", "127.0.0.1"},
                {"SY_MARIADB_PORT", std::to_string(port())},
                {"SY_MARIADB_SOCKET", socket_path()},
                {"SY_MARIADB_USER", kSqlUser},
                {"SY_MARIADB_DATABASE", kSqlDatabase}};
    }
};

}  // namespace sy::realserver
