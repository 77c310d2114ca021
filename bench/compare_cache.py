"""The cache comparison behind bench/compare-cache.sh.

Each workload runs against memcached and `trellis cache` in turn (A B A B ...), for
several rounds, with servers pinned to CPU 0 and the load generator to CPU 1 (taskset).
Every server is started fresh per workload and round, on a free loopback port, with the
same threads and memory. Reported: medians of the rounds and the trellis/memcached ratio.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from loopback import free_port, wait_port




class Server:
    """A memcached or trellis cache process, pinned with taskset when `cpus` is given."""

    def __init__(self, kind, trellis, threads, memory_mb, cpus, extra=()):
        self.port = free_port()
        if kind.startswith("memcached"):
            cmd = ["/usr/bin/memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
                   "-t", str(threads), "-m", str(memory_mb), "-c", "4096"]
            if os.geteuid() == 0:
                cmd += ["-u", "root"]
            cmd += list(extra)
        else:
            cmd = [trellis, "cache", "--listen", "127.0.0.1:%d" % self.port, "--threads",
                   str(threads), "--memory", str(memory_mb), "--max-connections", "4096",
                   "--log-level", "warn"] + list(extra)
        self._start(cmd, cpus)

    def _start(self, cmd, cpus):
        pin = ["taskset", "-c", cpus] if cpus else []
        self.process = subprocess.Popen(pin + cmd, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def rss_kib(self):
        with open("/proc/%d/status" % self.process.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Proxy(Server):
    """`trellis access` or nutcracker (twemproxy), one thread, in front of one node."""

    def __init__(self, kind, trellis, node_port, cpus, workdir):
        self.port = free_port()
        if kind == "twemproxy":
            config = os.path.join(workdir, "nutcracker.yml")
            with open(config, "w") as f:
                f.write("pool:\n  listen: 127.0.0.1:%d\n  hash: fnv1a_64\n"
                        "  distribution: ketama\n  timeout: 2000\n  server_connections: 1\n"
                        "  servers:\n   - 127.0.0.1:%d:1\n" % (self.port, node_port))
            cmd = ["/usr/sbin/nutcracker", "-c", config, "-s", str(free_port()),
                   "-o", os.path.join(workdir, "nutcracker.log")]
        else:
            cmd = [trellis, "access", "--listen", "127.0.0.1:%d" % self.port, "--threads", "1",
                   "--group", "a=127.0.0.1:%d" % node_port, "--log-level", "warn"]
        self._start(cmd, cpus)


def compare_proxies(args, keys):
    """access vs twemproxy in front of the same trellis cache node: proxy on CPU 0, node
    and load generator on CPU 1 (the proxy is the one under test). Besides throughput, the
    proxy's CPU time per request over the measured window: what one proxy thread costs,
    which throughput alone hides once the load generator's core is the one that is full."""
    workloads = [
        ("64 B, 1:9, 200 conns, pipeline 1", ["--connections", "200", "--pipeline", "1"]),
        ("64 B, 1:9, 200 conns, pipeline 16", ["--connections", "200", "--pipeline", "16"]),
    ]
    base = ["--duration", str(args.seconds), "--warmup", "0.5", "--keys", keys, "--threads", "1",
            "--ratio", "1:9", "--value-size", "64"]
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, load in workloads:
            for round_ in range(args.rounds):
                for kind in ["twemproxy", "access"]:
                    node = Server("trellis", args.trellis, 1, 64, "1")
                    proxy = Proxy(kind, args.trellis, node.port, "0", workdir)
                    try:
                        bench(args.trellis, node.port,
                              ["--fill", "--keys", keys, "--connections", "8"], "1")
                        # CPU sampled over the middle of the measured run.
                        results.setdefault((name, kind), []).append(
                            bench(args.trellis, proxy.port, base + load, "1",
                                  watch={"proxy": proxy.process.pid, "node": node.process.pid},
                                  window=(0.5 + 0.1 * args.seconds, 0.8 * args.seconds)))
                    finally:
                        proxy.stop()
                        node.stop()
                print("  done: %s, round %d" % (name, round_ + 1), file=sys.stderr)
    med = statistics.median
    window = 0.8 * args.seconds

    def cpu_per_op(run, name):  # Microseconds of CPU per request.
        return run["cpu"][name] * 1e6 / (run["ops_per_second"] * window)

    def busy(runs, name):  # Percent of one core.
        return med(r["cpu"][name] * 100 / window for r in runs)

    print("| proxy workload (1 proxy thread, pinned; one trellis cache node behind) | "
          "twemproxy ops/s | access ops/s | ratio | twemproxy p99 us | access p99 us | "
          "twemproxy CPU us/op | access CPU us/op | capacity ratio | CPU 0 / CPU 1 busy "
          "(twemproxy run) | CPU 0 / CPU 1 busy (access run) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, _ in workloads:
        n, a = results[(name, "twemproxy")], results[(name, "access")]
        n_ops, a_ops = med(r["ops_per_second"] for r in n), med(r["ops_per_second"] for r in a)
        n_cpu, a_cpu = med(cpu_per_op(r, "proxy") for r in n), med(cpu_per_op(r, "proxy") for r in a)
        errors = sum(sum(r["errors"].values()) for r in n + a)
        print("| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f | %.2f | %.2f | %.0f%% / %.0f%% | "
              "%.0f%% / %.0f%% |%s" % (
                  name, n_ops, a_ops, a_ops / n_ops, med(r["latency_us"]["p99"] for r in n),
                  med(r["latency_us"]["p99"] for r in a), n_cpu, a_cpu, n_cpu / a_cpu,
                  busy(n, "proxy"), busy(n, "node") + busy(n, "load_generator"),
                  busy(a, "proxy"), busy(a, "node") + busy(a, "load_generator"),
                  " errors: %d" % errors if errors else ""))


def compare_replication(args, keys):
    """The cost of replication on a main's throughput: no backup, an async backup, a
    sync backup. Main on CPU 0; backup and load generator on CPU 1."""
    load = ["--duration", str(args.seconds), "--warmup", "0.5", "--keys", keys, "--threads", "1",
            "--connections", "50", "--ratio", "1:1", "--value-size", "64"]
    modes = [("no backup", [], False), ("async backup", [], True),
             ("sync backup", ["--sync-replication"], True)]
    results = {}
    for pipeline in ["1", "16"]:
        for round_ in range(args.rounds):
            for name, flags, with_backup in modes:
                main = Server("trellis", args.trellis, 1, 64, "0", flags)
                backup = None
                if with_backup:
                    backup = Server("trellis", args.trellis, 1, 64, "1",
                                    ["--replica-of", "127.0.0.1:%d" % main.port])
                    time.sleep(0.5)
                try:
                    results.setdefault((pipeline, name), []).append(
                        bench(args.trellis, main.port, load + ["--pipeline", pipeline], "1"))
                finally:
                    if backup:
                        backup.stop()
                    main.stop()
            print("  done: replication, pipeline %s, round %d" % (pipeline, round_ + 1),
                  file=sys.stderr)
    med = statistics.median
    print("| main, 64 B 1:1, 50 conns | pipeline | ops/s | vs no backup | p99 us |")
    print("|---|---|---|---|---|")
    for pipeline in ["1", "16"]:
        base = med(r["ops_per_second"] for r in results[(pipeline, "no backup")])
        for name, _, _ in modes:
            runs = results[(pipeline, name)]
            ops = med(r["ops_per_second"] for r in runs)
            errors = sum(sum(r["errors"].values()) for r in runs)
            print("| %s | %s | %.0f | %.2f | %.0f |%s" % (
                name, pipeline, ops, ops / base, med(r["latency_us"]["p99"] for r in runs),
                " errors: %d" % errors if errors else ""))


def compare_tls(args, keys):
    """The cost of TLS on the client port: memcached and `trellis cache`, each plaintext and
    with TLS (memcached -Z; --tls-cert), one thread on CPU 0, the load generator (which
    speaks TLS with --tls-ca) on CPU 1. Certificates from `trellis ca` (EC P-256)."""
    workloads = [
        ("64 B, 1:9, 50 conns, pipeline 1", ["--connections", "50", "--pipeline", "1"]),
        ("64 B, 1:9, 50 conns, pipeline 16", ["--connections", "50", "--pipeline", "16"]),
    ]
    base = ["--duration", str(args.seconds), "--warmup", "0.5", "--keys", keys, "--threads", "1",
            "--ratio", "1:9", "--value-size", "64"]
    kinds = ["memcached", "memcached-tls", "trellis", "trellis-tls"]
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        ca = os.path.join(workdir, "ca")
        subprocess.run([args.trellis, "ca", "init", "--data", ca], check=True,
                       capture_output=True)
        subprocess.run([args.trellis, "ca", "issue", "cache", "--data", ca, "--ip", "127.0.0.1"],
                       check=True, capture_output=True)
        cert = os.path.join(ca, "issued", "cache.crt")
        key = os.path.join(ca, "issued", "cache.key")
        flags = {
            "memcached": [], "trellis": [],
            "memcached-tls": ["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (cert, key)],
            "trellis-tls": ["--tls-cert", cert, "--tls-key", key],
        }
        for name, load in workloads:
            for round_ in range(args.rounds):
                for kind in kinds:
                    server = Server(kind, args.trellis, 1, 64, "0", flags[kind])
                    tls = ["--tls-ca", os.path.join(ca, "ca.crt")] if kind.endswith("-tls") else []
                    try:
                        bench(args.trellis, server.port,
                              ["--fill", "--keys", keys, "--connections", "8"] + tls, "1")
                        results.setdefault((name, kind), []).append(
                            bench(args.trellis, server.port, base + load + tls, "1"))
                    finally:
                        server.stop()
                print("  done: %s, round %d" % (name, round_ + 1), file=sys.stderr)
    med = statistics.median
    print("| workload (1 server thread) | memcached ops/s | memcached -Z ops/s | trellis ops/s | "
          "trellis TLS ops/s | TLS/plain memcached | TLS/plain trellis | trellis TLS / "
          "memcached -Z | p99 us: memcached, -Z, trellis, TLS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, _ in workloads:
        ops = {k: med(r["ops_per_second"] for r in results[(name, k)]) for k in kinds}
        p99 = {k: med(r["latency_us"]["p99"] for r in results[(name, k)]) for k in kinds}
        errors = sum(sum(r["errors"].values()) for k in kinds for r in results[(name, k)])
        print("| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.0f, %.0f, %.0f, %.0f |%s" % (
            name, ops["memcached"], ops["memcached-tls"], ops["trellis"], ops["trellis-tls"],
            ops["memcached-tls"] / ops["memcached"], ops["trellis-tls"] / ops["trellis"],
            ops["trellis-tls"] / ops["memcached-tls"], p99["memcached"], p99["memcached-tls"],
            p99["trellis"], p99["trellis-tls"], " errors: %d" % errors if errors else ""))


def cpu_seconds(pid):
    """User + system CPU time a process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(trellis, port, args, cpus, watch=None, window=None):
    """Runs `trellis bench`; with `watch` (name -> pid) and `window` (start, length in
    seconds from the start of the run), report["cpu"][name] is the CPU seconds each used in
    that window (the measured part of the run, after the warm-up)."""
    pin = ["taskset", "-c", cpus] if cpus else []
    process = subprocess.Popen(pin + [trellis, "bench", "--server", "127.0.0.1:%d" % port, "--json"]
                               + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu = {}
    if watch:
        watch = dict(watch, load_generator=process.pid)
        time.sleep(window[0])
        before = {name: cpu_seconds(pid) for name, pid in watch.items()}
        time.sleep(window[1])
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in watch.items()}
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError("trellis bench failed:\n" + err)
    report = json.loads(out)
    report["cpu"] = cpu
    return report


def memcaslap(port, seconds, cpus):
    pin = ["taskset", "-c", cpus] if cpus else []
    out = subprocess.run(pin + ["memcaslap", "-s", "127.0.0.1:%d" % port, "-t", "%ds" % seconds,
                                "-c", "50", "-T", "1", "-X", "64"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Run time:") and "TPS:" in line:
            return float(line.split("TPS:")[1].split()[0])
    raise RuntimeError("memcaslap printed no TPS:\n" + out)


def calibrate(args, workloads, keys):
    print("| workload (memcached A vs memcached B) | A ops/s | B ops/s | ratio B/A | A p99 us | B p99 us |")
    print("|---|---|---|---|---|---|")
    for name, bench_args, fill_size, memory in workloads:
        runs = {}
        for round_ in range(args.rounds):
            for kind in ["memcached-a", "memcached-b"]:
                server = Server(kind, args.trellis, 1, memory, "0")
                try:
                    bench(args.trellis, server.port, ["--fill", "--keys", keys, "--value-size",
                                                      fill_size, "--connections", "8"], "1")
                    runs.setdefault(kind, []).append(bench(args.trellis, server.port, bench_args, "1"))
                finally:
                    server.stop()
        med = statistics.median
        a = med(r["ops_per_second"] for r in runs["memcached-a"])
        b = med(r["ops_per_second"] for r in runs["memcached-b"])
        print("| %s | %.0f | %.0f | %.2f | %.0f | %.0f |" % (
            name, a, b, b / a, med(r["latency_us"]["p99"] for r in runs["memcached-a"]),
            med(r["latency_us"]["p99"] for r in runs["memcached-b"])))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trellis", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s: a smoke run")
    parser.add_argument("--proxies", action="store_true",
                        help="only the proxy comparison: access against twemproxy")
    parser.add_argument("--replication", action="store_true",
                        help="only the cost of replication on a main: none, async, sync")
    parser.add_argument("--tls", action="store_true",
                        help="only the cost of TLS on the client port, against memcached -Z")
    parser.add_argument("--calibrate", action="store_true",
                        help="memcached against a second memcached on the first workloads: "
                             "the noise floor of a ratio")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 1
    secs = str(args.seconds)
    keys = "100000"
    base = ["--duration", secs, "--warmup", "0.5", "--keys", keys, "--threads", "1"]
    # name, bench args, prefill value size, server memory MB
    workloads = [
        ("64 B, 1:9, 50 conns, pipeline 1",
         base + ["--connections", "50", "--pipeline", "1", "--ratio", "1:9", "--value-size", "64"],
         "64", 64),
        ("64 B, 1:9, 50 conns, pipeline 16",
         base + ["--connections", "50", "--pipeline", "16", "--ratio", "1:9", "--value-size", "64"],
         "64", 64),
        ("64 B, 1:1, 50 conns, pipeline 1",
         base + ["--connections", "50", "--pipeline", "1", "--ratio", "1:1", "--value-size", "64"],
         "64", 64),
        ("1 KiB, 1:9, 50 conns, pipeline 1",
         base + ["--connections", "50", "--pipeline", "1", "--ratio", "1:9", "--value-size", "1024"],
         "1024", 256),
        ("64 B, 10-key multi-get, 50 conns",
         base + ["--connections", "50", "--pipeline", "1", "--ratio", "0:1", "--multiget", "10",
                 "--value-size", "64"],
         "64", 64),
    ]
    results = {}  # (workload, server) -> list of reports
    order = ["memcached", "trellis"]
    if args.calibrate:
        calibrate(args, workloads[:2], keys)
        return
    if args.proxies:
        compare_proxies(args, keys)
        return
    if args.replication:
        compare_replication(args, keys)
        return
    if args.tls:
        compare_tls(args, keys)
        return
    for name, bench_args, fill_size, memory in workloads:
        for round_ in range(args.rounds):
            for kind in order:
                server = Server(kind, args.trellis, 1, memory, "0")
                try:
                    bench(args.trellis, server.port,
                          ["--fill", "--keys", keys, "--value-size", fill_size,
                           "--connections", "8"], "1")
                    report = bench(args.trellis, server.port, bench_args, "1")
                    results.setdefault((name, kind), []).append(report)
                finally:
                    server.stop()
            print("  done: %s, round %d" % (name, round_ + 1), file=sys.stderr)

    # Hit ratio under memory pressure: Zipf(0.99) over 1M keys, memory for ~10% of them.
    # A fixed number of requests, not a duration: a faster server would otherwise warm up
    # over more requests and show a higher hit ratio for that reason alone.
    zipf_name = "Zipf 0.99, 1M keys, 100 B values, 16 MB (about 10% fit), 1:1, 2M requests"
    zipf_args = ["--requests", "200000" if args.quick else "2000000", "--keys", "1000000",
                 "--key-pattern", "zipf:0.99", "--value-size", "100", "--ratio", "1:1",
                 "--connections", "50", "--pipeline", "8", "--threads", "1"]
    for round_ in range(args.rounds):
        for kind in order:
            server = Server(kind, args.trellis, 1, 16, "0")
            try:
                results.setdefault((zipf_name, kind), []).append(
                    bench(args.trellis, server.port, zipf_args, "1"))
            finally:
                server.stop()
    print("  done: zipf", file=sys.stderr)

    # Memory per item: RSS growth over a 1,000,000-item fill of 64-byte values.
    rss = {}
    for round_ in range(args.rounds):
        for kind in order:
            server = Server(kind, args.trellis, 1, 1024, "0")
            try:
                before = server.rss_kib()
                bench(args.trellis, server.port,
                      ["--fill", "--keys", "1000000", "--value-size", "64", "--connections", "8",
                       "--pipeline", "16"], "1")
                rss.setdefault(kind, []).append((server.rss_kib() - before) * 1024 / 1e6)
            finally:
                server.stop()
    print("  done: rss", file=sys.stderr)

    # Cross-check with a load generator we did not write.
    caslap = {}
    for round_ in range(args.rounds):
        for kind in order:
            server = Server(kind, args.trellis, 1, 64, "0")
            try:
                caslap.setdefault(kind, []).append(memcaslap(server.port, int(max(args.seconds, 1)), "1"))
            finally:
                server.stop()
    print("  done: memcaslap", file=sys.stderr)

    # Two server threads, unpinned (the load generator shares the two cores).
    two = {}
    two_args = base + ["--connections", "50", "--pipeline", "16", "--ratio", "1:9",
                       "--value-size", "64"]
    for round_ in range(args.rounds):
        for kind in order:
            server = Server(kind, args.trellis, 2, 64, None)
            try:
                bench(args.trellis, server.port, ["--fill", "--keys", keys, "--connections", "8"], None)
                two.setdefault(kind, []).append(bench(args.trellis, server.port, two_args, None))
            finally:
                server.stop()
    print("  done: two threads", file=sys.stderr)

    med = statistics.median
    print("| workload (1 server thread, pinned) | memcached ops/s | trellis ops/s | ratio | "
          "memcached p99 us | trellis p99 us | memcached hit | trellis hit |")
    print("|---|---|---|---|---|---|---|---|")
    for name in [w[0] for w in workloads] + [zipf_name]:
        m, t = results[(name, "memcached")], results[(name, "trellis")]
        m_ops, t_ops = med(r["ops_per_second"] for r in m), med(r["ops_per_second"] for r in t)
        m_p99 = med(r["latency_us"]["p99"] for r in m)
        t_p99 = med(r["latency_us"]["p99"] for r in t)
        m_hit, t_hit = med(r["hit_ratio"] for r in m), med(r["hit_ratio"] for r in t)
        errors = sum(sum(r["errors"].values()) for r in m + t)
        print("| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.4f | %.4f |%s" % (
            name, m_ops, t_ops, t_ops / m_ops, m_p99, t_p99, m_hit, t_hit,
            " errors: %d" % errors if errors else ""))
    print()
    print("| 1,000,000 items of 64 B | memcached | trellis | ratio |")
    print("|---|---|---|---|")
    print("| RSS growth per item (bytes) | %.1f | %.1f | %.2f |" % (
        med(rss["memcached"]), med(rss["trellis"]), med(rss["trellis"]) / med(rss["memcached"])))
    print()
    print("| 2 server threads, unpinned, 64 B 1:9 pipeline 16 | memcached -t 2 | trellis --threads 2 | ratio |")
    print("|---|---|---|---|")
    m2 = med(r["ops_per_second"] for r in two["memcached"])
    t2 = med(r["ops_per_second"] for r in two["trellis"])
    print("| ops/s | %.0f | %.0f | %.2f |" % (m2, t2, t2 / m2))
    print()
    print("| memcaslap (50 conns, 1:9, 64 B) | memcached | trellis | ratio |")
    print("|---|---|---|---|")
    print("| TPS | %.0f | %.0f | %.2f |" % (med(caslap["memcached"]), med(caslap["trellis"]),
                                           med(caslap["trellis"]) / med(caslap["memcached"])))
    print("| trellis bench on the same workload (ops/s) | %.0f | %.0f | |" % (
        med(r["ops_per_second"] for r in results[(workloads[0][0], "memcached")]),
        med(r["ops_per_second"] for r in results[(workloads[0][0], "trellis")])))
    print()
    compare_proxies(args, keys)
    print()
    compare_replication(args, keys)


if __name__ == "__main__":
    main()
