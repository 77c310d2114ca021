"""Backup center benchmark (docs/backup.md): what archiving costs a main, how fast a
restore writes, and how many bytes the archive spends per change.

Each round on a fresh cluster on loopback (master, --groups groups of a main and a
backup, one access node):
  cost: `trellis bench` (1:1 SET:GET, 64-byte values, 8 connections) straight at one
    main, for --seconds without a backup center, then with one archiving every group
    (its stream from that main included), three times in turn; the ratio of the medians.
  restore: --keys keys written through the access node, a quiet second T, every key
    written again with another value size; `trellis backup restore --to T`: keys set
    back a second, as the center reports it.
  bytes: archive bytes (segments and dumps) per change archived, after the writes above.
  dump and load: `trellis backup dump --out FILE` of the --keys items, then `trellis
    backup load --in FILE` into the same cluster, each timed.
Redis, same machine, same items (--keys keys of 64 bytes): `redis-cli --rdb FILE` (dump),
and a redis-server started on that RDB file until it answers (load), as the reference.
Reported: medians of --rounds rounds.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from loopback import free_port, wait_port
from scale_out import Cluster, api


def bench_main(trellis, port, seconds):
    result = json.loads(subprocess.run(
        [trellis, "bench", "--server", "127.0.0.1:%d" % port, "--keys", "100000",
         "--value-size", "64", "--json", "--duration", str(seconds), "--threads", "1",
         "--connections", "8", "--ratio", "1:1"],
        check=True, capture_output=True, text=True).stdout)
    return result["ops_per_second"]


def fill(trellis, port, keys, value_size):
    subprocess.run([trellis, "bench", "--server", "127.0.0.1:%d" % port, "--keys", str(keys),
                    "--value-size", str(value_size), "--fill", "--threads", "2",
                    "--connections", "4", "--pipeline", "64", "--json"],
                   check=True, capture_output=True)


class Center:
    def __init__(self, trellis, cluster, workdir):
        self.port = free_port()
        log = open(os.path.join(workdir, "center.log"), "w")
        self.process = subprocess.Popen(
            [trellis, "backup-center", "--listen", "127.0.0.1:%d" % self.port, "--data",
             os.path.join(workdir, "backup"), "--master", "http://127.0.0.1:%d" % cluster.master,
             "--access", "127.0.0.1:%d" % cluster.access],
            stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                groups = api(self.port, "GET", "/v1/backup")["groups"]
                if groups and all(g["streaming"] and g["restorable"] for g in groups):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the backup center did not start archiving")

    def archive_bytes(self):
        return sum(f["bytes"] for g in api(self.port, "GET", "/v1/backup")["groups"]
                   for f in g["files"])

    def stop(self):
        self.process.kill()
        self.process.wait()


def main_port(cluster):
    group = api(cluster.master, "GET", "/v1/cluster")["groups"][0]
    return int(group["main"].rsplit(":", 1)[1])


def one_round(trellis, groups, keys, seconds):
    out = {}
    with tempfile.TemporaryDirectory() as workdir:
        cluster = Cluster(trellis, groups, 512, workdir)
        center = None
        try:
            port = main_port(cluster)
            # Alternately without and with the center (this machine's speed drifts).
            without, with_center = [], []
            for _ in range(3):
                without.append(bench_main(trellis, port, seconds))
                center = Center(trellis, cluster, workdir)
                with_center.append(bench_main(trellis, port, seconds))
                center.stop()
            center = Center(trellis, cluster, workdir)
            out["without_ops"] = statistics.median(without)
            out["with_ops"] = statistics.median(with_center)
            out["ratio"] = out["with_ops"] / out["without_ops"]

            bytes_before = center.archive_bytes()
            fill(trellis, cluster.access, keys, 64)
            time.sleep(1.2)
            quiet = int(time.time())
            time.sleep(1.2)
            fill(trellis, cluster.access, keys, 32)
            started = time.monotonic()
            reply = api(center.port, "POST", "/v1/restore", {"to": quiet, "wait": True})
            out["restore_seconds"] = time.monotonic() - started
            out["restored"] = reply["restored"]
            out["restore_keys_per_second"] = reply["restored"] / out["restore_seconds"]
            # Changes archived since: two fills and the restore's sets.
            time.sleep(1.5)
            out["bytes_per_change"] = (center.archive_bytes() - bytes_before) / (keys * 3)

            dump_file = os.path.join(workdir, "cluster.tdump")
            started = time.monotonic()
            subprocess.run([trellis, "backup", "dump", "--center",
                            "http://127.0.0.1:%d" % center.port, "--out", dump_file],
                           check=True, capture_output=True)
            out["dump_seconds"] = time.monotonic() - started
            started = time.monotonic()
            subprocess.run([trellis, "backup", "load", "--in", dump_file, "--access",
                            "127.0.0.1:%d" % cluster.access], check=True, capture_output=True)
            out["load_seconds"] = time.monotonic() - started
            with open(os.path.join(workdir, "center.log")) as log:
                out["log"] = [line for line in log if "restore to" in line][-1].strip()
        finally:
            if center:
                center.stop()
            cluster.stop()
    return out


def redis_dump_and_load(keys):
    """(seconds to `redis-cli --rdb`, seconds until a server started on that file answers)."""
    with tempfile.TemporaryDirectory() as workdir:
        servers = []

        def start(port, args):
            server = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
                 "--appendonly", "no", "--save", "", "--protected-mode", "no",
                 "--repl-diskless-sync-delay", "0"] + args,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append(server)
            return server

        try:
            port = free_port()
            start(port, [])
            wait_port(port)
            value = "x" * 64
            commands = "".join("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n" %
                               (len("key:%d" % n), "key:%d" % n, value) for n in range(keys))
            subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=commands, text=True,
                           check=True, capture_output=True)
            rdb = os.path.join(workdir, "dump.rdb")
            started = time.monotonic()
            subprocess.run(["redis-cli", "-p", str(port), "--rdb", rdb], check=True,
                           capture_output=True)
            dump_seconds = time.monotonic() - started
            servers[0].kill()
            servers[0].wait()
            port = free_port()
            started = time.monotonic()
            start(port, ["--dbfilename", "dump.rdb"])
            while True:
                reply = subprocess.run(["redis-cli", "-p", str(port), "dbsize"],
                                       capture_output=True, text=True).stdout.strip()
                if reply == str(keys):
                    break
                time.sleep(0.01)
            return dump_seconds, time.monotonic() - started
        finally:
            for server in servers:
                server.kill()
                server.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trellis", default="build/bin/trellis")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for r in range(args.rounds):
        rounds.append(one_round(args.trellis, args.groups, args.keys, args.seconds))
        rounds[-1]["redis_dump_seconds"], rounds[-1]["redis_load_seconds"] = \
            redis_dump_and_load(args.keys)
        print("round %d: %s" % (r + 1, json.dumps(rounds[-1])), file=sys.stderr)
    median = {key: statistics.median(row[key] for row in rounds) for key in rounds[0]
              if key != "log"}
    print("Backup center, %d groups, medians of %d rounds:" % (args.groups, args.rounds))
    print("  main, 1:1 SET:GET: %.0f ops/s without, %.0f with the archive: %.2f" % (
        median["without_ops"], median["with_ops"], median["ratio"]))
    print("  restore of %d changed keys: %.1f s, %.0f keys/s" % (
        median["restored"], median["restore_seconds"], median["restore_keys_per_second"]))
    print("  archive: %.1f bytes per change (64- and 32-byte values, ~10-byte keys)" %
          median["bytes_per_change"])
    print("  dump of %d items: %.1f s; load: %.1f s" % (args.keys, median["dump_seconds"],
                                                        median["load_seconds"]))
    print("Redis 7.0, same items: redis-cli --rdb %.1f s; a server loading the RDB: %.1f s" % (
        median["redis_dump_seconds"], median["redis_load_seconds"]))


if __name__ == "__main__":
    main()
