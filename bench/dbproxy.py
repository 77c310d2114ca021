"""CDB's proxy benchmark (docs/db.md): sysbench through `trellis dbproxy`, directly to the
server, and through HAProxy in TCP mode (a pass-through, what a ProxySQL-less setup
puts in front of MariaDB), side by side on this machine, against one MariaDB 10.11.

The server: Debian's mariadbd on a free loopback port, a data directory of its own, a
32 MiB buffer pool; sysbench's tables (--tables x --table-size) prepared once. The proxy
runs with --threads 1 and max_backend_connections 200; HAProxy with nbthread 1, mode tcp.
Load: sysbench oltp_read_only and oltp_read_write, --threads T (64), prepared statements
(sysbench's default), for --duration seconds after a warm-up; reported: queries/s and the
99th percentile latency, medians of --rounds rounds, each round running every setup in
turn starting with the next one; and the proxy's ratio to each. Also read: the most
connections the server had at once behind the proxy (Max_used_connections); and, with
--most-connections N, how many logged-in idle client connections each setup holds at
once, up to N (opened one after another until one fails), with the resident memory of
the server and the proxy at that point.
"""
import argparse
import hashlib
import os
import re
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from loopback import free_port, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
TRELLIS = os.path.join(HERE, "..", "build", "bin", "trellis")


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def mariadb(port, sql):
    return subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1", "-P%d" % port, "-uroot",
                           "--batch", "--skip-column-names", "-e", sql],
                          check=True, capture_output=True, text=True).stdout


def start_server(workdir, log):
    data = os.path.join(workdir, "data")
    subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + data,
                    "--auth-root-authentication-method=normal", "--skip-test-db", "--user=root"],
                   check=True, capture_output=True)
    port = free_port()
    server = start(["mariadbd", "--no-defaults", "--datadir=" + data,
                    "--socket=" + os.path.join(workdir, "server.sock"), "--port=%d" % port,
                    "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve",
                    "--performance-schema=OFF", "--max-connections=20000",
                    "--innodb-buffer-pool-size=32M", "--tmpdir=" + workdir], log)
    deadline = time.monotonic() + 60
    while True:
        try:
            mariadb(port, "SELECT 1")
            break
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("mariadbd did not start (see %s/log)" % workdir)
            time.sleep(0.2)
    mariadb(port, "CREATE USER app@'%' IDENTIFIED BY 'secret'; GRANT ALL ON *.* TO app@'%';"
                  " CREATE DATABASE sbtest")
    return server, port


def start_proxy(workdir, server_port, log):
    conf = os.path.join(workdir, "dbproxy.toml")
    with open(conf, "w") as f:
        f.write('primary = "127.0.0.1:%d"\nmax_backend_connections = 200\n'
                '[[user]]\nname = "app"\npassword = "secret"\n' % server_port)
    port = free_port()
    proxy = start([TRELLIS, "dbproxy", "--config", conf, "--listen", "127.0.0.1:%d" % port,
                   "--admin", "127.0.0.1:0", "--threads", "1", "--log-level", "warn"], log)
    wait_port(port)
    return proxy, port


def start_haproxy(workdir, server_port, log):
    conf = os.path.join(workdir, "haproxy.cfg")
    port = free_port()
    with open(conf, "w") as f:
        f.write("""global
  nbthread 1
  maxconn 9900
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen mysql
  bind 127.0.0.1:%d
  server db 127.0.0.1:%d
""" % (port, server_port))
    proxy = start(["/usr/sbin/haproxy", "-f", conf, "-db"], log)
    wait_port(port)
    return proxy, port


def log_in(port):
    """A MySQL-protocol login as app/secret (mysql_native_password); the open socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)

    def read():
        header = sock.recv(4, socket.MSG_WAITALL)
        if len(header) < 4:
            raise OSError("closed")
        length = header[0] | header[1] << 8 | header[2] << 16
        return header[3], sock.recv(length, socket.MSG_WAITALL) if length else b""

    sequence, greeting = read()
    if greeting[:1] != b"\x0a":
        raise OSError("refused: %r" % greeting[:60])
    version_end = greeting.index(b"\0", 1)
    nonce = greeting[version_end + 5:version_end + 13]
    nonce += greeting[version_end + 32:version_end + 44]
    stage1 = hashlib.sha1(b"secret").digest()
    mask = hashlib.sha1(nonce + hashlib.sha1(stage1).digest()).digest()
    answer = bytes(a ^ b for a, b in zip(stage1, mask))
    capabilities = 0x200 | 0x8000 | 0x80000  # 4.1, secure connection, plugin auth.
    payload = (struct.pack("<IIB", capabilities, 1 << 24, 45) + b"\0" * 23 + b"app\0" +
               bytes([len(answer)]) + answer + b"mysql_native_password\0")
    sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([sequence + 1]) + payload)
    _, reply = read()
    if reply[:1] != b"\0":
        raise OSError("refused: %r" % reply[:60])
    return sock


def resident_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def most_connections(port, limit):
    """How many logged-in connections `port` holds at once, up to `limit`; they stay open
    (the caller closes them) so that memory can be read."""
    held = []
    try:
        while len(held) < limit:
            held.append(log_in(port))
    except OSError:
        pass
    return held


def sysbench(port, args, workload, threads, duration, *extra):
    out = subprocess.run(
        ["sysbench", "--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=%d" % port,
         "--mysql-user=app", "--mysql-password=secret", "--mysql-db=sbtest",
         "--tables=%d" % args.tables, "--table-size=%d" % args.table_size,
         "--threads=%d" % threads, "--time=%d" % duration, "--percentile=99", *extra, workload,
         "run"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("sysbench failed: %s%s" % (out.stdout[-2000:], out.stderr[-2000:]))
    qps = float(re.search(r"queries:\s+\d+\s+\(([\d.]+) per sec", out.stdout).group(1))
    p99 = float(re.search(r"99th percentile:\s+([\d.]+)", out.stdout).group(1))
    errors = int(re.search(r"ignored errors:\s+(\d+)", out.stdout).group(1))
    return {"qps": qps, "p99_ms": p99, "errors": errors}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--tables", type=int, default=4)
    parser.add_argument("--table-size", type=int, default=10000)
    parser.add_argument("--most-connections", type=int, default=0,
                        help="also count the idle connections each setup holds, up to N")
    args = parser.parse_args()
    for tool in ("sysbench", "mariadbd", "mariadb-install-db", "/usr/sbin/haproxy"):
        if not shutil.which(tool):
            sys.exit("bench/dbproxy.py: %s is missing (scripts/setup installs it)" % tool)
    workdir = tempfile.mkdtemp(prefix="trellis-bench-dbproxy-")
    log = open(os.path.join(workdir, "log"), "w")
    processes = []
    try:
        server, server_port = start_server(workdir, log)
        processes.append(server)
        subprocess.run(["sysbench", "--db-driver=mysql", "--mysql-host=127.0.0.1",
                        "--mysql-port=%d" % server_port, "--mysql-user=app",
                        "--mysql-password=secret", "--mysql-db=sbtest",
                        "--tables=%d" % args.tables, "--table-size=%d" % args.table_size,
                        "oltp_read_write", "prepare"], check=True, capture_output=True)
        proxy, proxy_port = start_proxy(workdir, server_port, log)
        processes.append(proxy)
        haproxy, haproxy_port = start_haproxy(workdir, server_port, log)
        processes.append(haproxy)
        setups = {"direct": server_port, "dbproxy": proxy_port, "haproxy": haproxy_port}
        workloads = ("oltp_read_only", "oltp_read_write")
        results = {(name, w): [] for name in setups for w in workloads}
        most_behind_proxy = 0
        for round_index in range(args.rounds):
            names = list(setups)
            names = names[round_index % len(names):] + names[:round_index % len(names)]
            for name in names:
                for workload in workloads:
                    sysbench(setups[name], args, workload, args.threads, 2)  # Warm up.
                    if name == "dbproxy":
                        mariadb(server_port, "FLUSH STATUS")
                    result = sysbench(setups[name], args, workload, args.threads, args.duration)
                    if name == "dbproxy":
                        most = int(mariadb(server_port, "SHOW GLOBAL STATUS LIKE "
                                                        "'Max_used_connections'").split()[1])
                        most_behind_proxy = max(most_behind_proxy, most)
                    results[(name, workload)].append(result)
                    print("round %d %-8s %-16s %8.0f queries/s  p99 %7.2f ms  errors %d" % (
                        round_index + 1, name, workload, result["qps"], result["p99_ms"],
                        result["errors"]), flush=True)
        print("sysbench, %d threads, %d s, medians of %d rounds:" % (
            args.threads, args.duration, args.rounds))
        for workload in workloads:
            median = {name: {key: statistics.median(r[key] for r in results[(name, workload)])
                             for key in ("qps", "p99_ms")} for name in setups}
            for name in setups:
                print("  %-16s %-8s %8.0f queries/s  p99 %7.2f ms" % (
                    workload, name, median[name]["qps"], median[name]["p99_ms"]))
            for other in ("direct", "haproxy"):
                print("  %-16s dbproxy / %s: %.2f queries/s, p99 x%.2f" % (
                    workload, other, median["dbproxy"]["qps"] / median[other]["qps"],
                    median["dbproxy"]["p99_ms"] / median[other]["p99_ms"]))
        print("server connections behind the proxy, at most: %d (the benchmark's own query "
              "included)" % most_behind_proxy)
        if args.most_connections:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            pids = {"direct": [server.pid], "dbproxy": [server.pid, proxy.pid],
                    "haproxy": [server.pid, haproxy.pid]}
            for name in setups:
                held = most_connections(setups[name], args.most_connections)
                memory = ", ".join("%s %.0f MB" % ("server" if pid == server.pid else name,
                                                   resident_mb(pid)) for pid in pids[name])
                print("most idle client connections, %-8s %6d (of %d tried; resident: %s)" % (
                    name, len(held), args.most_connections, memory), flush=True)
                for sock in held:
                    sock.close()
                time.sleep(2)  # The server lets go of them.
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
