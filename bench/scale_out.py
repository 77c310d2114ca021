"""Scale-out benchmark (docs/scale-out.md): what clients see while slots move, and how
fast keys move, with Redis Cluster's `redis-cli --cluster rebalance` as the reference.

Trellis, each round on a fresh cluster on loopback (master, groups of a main and a
backup, one access node):
  rebalance: 3 groups hold --keys 64-byte keys; a 4th group is added and `POST
    /v1/rebalance` (default rate) moves a quarter of them. `trellis bench` (1:9 SET:GET,
    uniform over the keys, through the access node) runs before, during (from the
    moment the move starts to its end, in 1.5-second runs) and after the move:
    throughput and p99 of each phase, and the move's duration and key rate.
  drain: 1 group holds --keys keys; an empty 2nd group is added and the first drained:
    every key moves; its duration at the default rate.
Redis, same machine, same data: 3 masters (cluster mode) hold --keys 64-byte keys; a 4th
master is added and `redis-cli --cluster rebalance --cluster-use-empty-masters` moves a
quarter of the slots; its duration and key rate.
Reported: medians of --rounds rounds.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from loopback import free_port, wait_port
import urllib.request




def api(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                     method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or b"{}")


class Cluster:
    """A Trellis cluster: master, groups of two cache nodes, one access node."""

    def __init__(self, trellis, groups, memory_mb, workdir):
        self.trellis, self.memory_mb, self.workdir = trellis, memory_mb, workdir
        self.processes = []
        self.master = free_port()
        self._start(["master", "--listen", "127.0.0.1:%d" % self.master, "--data",
                     os.path.join(workdir, "master")], self.master)
        for g in range(1, groups + 1):
            api(self.master, "POST", "/v1/groups", {"name": "g%d" % g})
        for g in range(1, groups + 1):
            self.start_nodes("g%d" % g)
        self.access = free_port()
        self._start(["access", "--listen", "127.0.0.1:%d" % self.access, "--threads", "1",
                     "--master", "http://127.0.0.1:%d" % self.master], self.access)
        self.wait_for_mains()

    def _start(self, args, port):
        log = open(os.path.join(self.workdir, "%d.log" % port), "w")
        self.processes.append(subprocess.Popen([self.trellis] + args + ["--log-level", "warn"],
                                               stdout=log, stderr=log))
        wait_port(port)

    def start_nodes(self, group):
        for _ in range(2):
            port = free_port()
            self._start(["cache", "--listen", "127.0.0.1:%d" % port, "--threads", "1",
                         "--memory", str(self.memory_mb), "--master",
                         "http://127.0.0.1:%d" % self.master, "--group", group], port)

    def add_group(self, group):
        api(self.master, "POST", "/v1/groups", {"name": group})
        self.start_nodes(group)
        self.wait_for_mains()

    def wait_for_mains(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            groups = api(self.master, "GET", "/v1/cluster")["groups"]
            if all(g["main"] and len(g["nodes"]) == 2 for g in groups):
                return
            time.sleep(0.05)
        raise RuntimeError("groups without a main")

    def move_and_time(self, path, started=None):
        """Starts the moves of `path` (then sets `started`, if given) and waits until they
        are done: (seconds, keys moved)."""
        start = time.monotonic()
        api(self.master, "POST", path, {})
        if started:
            started.set()
        while True:
            status = api(self.master, "GET", "/v1/migrations")
            if not status["active"]:
                if status["error"]:
                    raise RuntimeError("the moves failed: " + status["error"])
                return time.monotonic() - start, status["keys_moved"]
            time.sleep(0.05)

    def stop(self):
        for p in self.processes:
            p.kill()
            p.wait()


def bench(trellis, port, keys, seconds, fill=False):
    cmd = [trellis, "bench", "--server", "127.0.0.1:%d" % port, "--keys", str(keys),
           "--value-size", "64", "--json"]
    if fill:
        cmd += ["--fill", "--threads", "2", "--connections", "4", "--pipeline", "64"]
    else:
        cmd += ["--duration", str(seconds), "--threads", "1", "--connections", "8",
                "--ratio", "1:9"]
    result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    if result["errors"]:
        raise RuntimeError("bench errors: %s" % result["errors"])
    return result


def trellis_round(trellis, keys, memory_mb):
    out = {}
    with tempfile.TemporaryDirectory() as workdir:
        cluster = Cluster(trellis, 3, memory_mb, workdir)
        try:
            bench(trellis, cluster.access, keys, 0, fill=True)
            cluster.add_group("g4")
            before = bench(trellis, cluster.access, keys, 5)
            moving = threading.Event()
            mover = threading.Thread(
                target=lambda: out.update(zip(("rebalance_seconds", "rebalance_keys"),
                                              cluster.move_and_time("/v1/rebalance", moving))))
            mover.start()
            moving.wait()
            # The load through the whole move, in windows of a second or two.
            windows = []
            while mover.is_alive():
                windows.append(bench(trellis, cluster.access, keys, 1.5))
            mover.join()
            if "rebalance_seconds" not in out:
                raise RuntimeError("the rebalance failed")
            after = bench(trellis, cluster.access, keys, 5)
            seconds = sum(w["seconds"] for w in windows)
            out.update({"before_ops": before["ops_per_second"],
                        "before_p99_us": before["latency_us"]["p99"],
                        "during_ops": sum(w["ops_per_second"] * w["seconds"]
                                          for w in windows) / seconds,
                        "during_p99_us": max(w["latency_us"]["p99"] for w in windows),
                        "during_misses": sum(w["key_misses"] for w in windows),
                        "after_ops": after["ops_per_second"],
                        "after_p99_us": after["latency_us"]["p99"]})
        finally:
            cluster.stop()
    with tempfile.TemporaryDirectory() as workdir:
        cluster = Cluster(trellis, 1, memory_mb, workdir)
        try:
            bench(trellis, cluster.access, keys, 0, fill=True)
            cluster.add_group("g2")
            seconds, moved = cluster.move_and_time("/v1/groups/g1/drain")
            out.update({"drain_seconds": seconds, "drain_keys": moved})
        finally:
            cluster.stop()
    return out


def crc16(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def wait_for_gossip(ports, timeout=30):
    """Until every node knows every other (CLUSTER NODES) and says the cluster is ok."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = True
        for port in ports:
            nodes = subprocess.run(["redis-cli", "-p", str(port), "cluster", "nodes"],
                                   capture_output=True, text=True).stdout.strip().split("\n")
            info = subprocess.run(["redis-cli", "-p", str(port), "cluster", "info"],
                                  capture_output=True, text=True).stdout
            ready = ready and len(nodes) == len(ports) and "cluster_state:ok" in info
        if ready:
            return
        time.sleep(0.1)
    raise RuntimeError("the Redis cluster did not settle")


def free_cluster_port():
    """A free port whose cluster bus port (port + 10000, Redis's rule) is valid and free."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue


def redis_round(keys):
    with tempfile.TemporaryDirectory() as workdir:
        ports = [free_cluster_port() for _ in range(4)]
        processes = []
        try:
            for i in range(len(ports)):
                # A port taken meanwhile by someone else: another one.
                for _ in range(5):
                    directory = os.path.join(workdir, str(ports[i]))
                    os.makedirs(directory, exist_ok=True)
                    server = subprocess.Popen(
                        ["redis-server", "--port", str(ports[i]), "--bind", "127.0.0.1",
                         "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                         "--dir", directory, "--save", "", "--appendonly", "no",
                         "--protected-mode", "no"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    try:
                        wait_port(ports[i])
                        processes.append(server)
                        break
                    except RuntimeError:
                        server.kill()
                        server.wait()
                        ports[i] = free_cluster_port()
                else:
                    raise RuntimeError("redis-server did not start")
            subprocess.run(["redis-cli", "--cluster", "create"] +
                           ["127.0.0.1:%d" % p for p in ports[:3]] + ["--cluster-yes"],
                           check=True, capture_output=True)
            wait_for_gossip(ports[:3])
            # The same data: `keys` keys key:N with 64-byte values, piped to each key's master.
            owners = {}
            slots_json = subprocess.run(
                ["redis-cli", "-p", str(ports[0]), "--json", "cluster", "slots"],
                capture_output=True, text=True)
            ranges = json.loads(slots_json.stdout) if slots_json.returncode == 0 else None
            if ranges is None:
                raise RuntimeError("redis-cli --json cluster slots failed")
            for first, last, master, *_ in ranges:
                owners[(first, last)] = master[1]
            pipes = {p: [] for p in ports[:3]}
            value = "x" * 64
            for n in range(keys):
                key = "key:%d" % n
                slot = crc16(key.encode()) % 16384
                port = next(p for (f, l), p in owners.items() if f <= slot <= l)
                pipes[port].append("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n" %
                                   (len(key), key, value))
            for port, commands in pipes.items():
                subprocess.run(["redis-cli", "-p", str(port), "--pipe"],
                               input="".join(commands), text=True, check=True,
                               capture_output=True)
            subprocess.run(["redis-cli", "--cluster", "add-node", "127.0.0.1:%d" % ports[3],
                            "127.0.0.1:%d" % ports[0]], check=True, capture_output=True)
            wait_for_gossip(ports)
            start = time.monotonic()
            rebalanced = subprocess.run(["redis-cli", "--cluster", "rebalance",
                                         "127.0.0.1:%d" % ports[0], "--cluster-use-empty-masters"],
                                        capture_output=True, text=True)
            seconds = time.monotonic() - start
            if rebalanced.returncode != 0:
                raise RuntimeError("redis-cli --cluster rebalance: " + rebalanced.stdout[-2000:])
            moved = int(subprocess.run(["redis-cli", "-p", str(ports[3]), "dbsize"],
                                       check=True, capture_output=True, text=True).stdout)
            return {"rebalance_seconds": seconds, "rebalance_keys": moved}
        finally:
            for p in processes:
                p.kill()
                p.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trellis", default="build/bin/trellis")
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory", type=int, default=512, help="MB per cache node")
    args = parser.parse_args()
    rounds = []
    redis = []
    for r in range(args.rounds):
        rounds.append(trellis_round(args.trellis, args.keys, args.memory))
        redis.append(redis_round(args.keys))
        print("round %d: trellis %s redis %s" % (r + 1, json.dumps(rounds[-1]),
                                                  json.dumps(redis[-1])), file=sys.stderr)
    median = lambda rows, key: statistics.median(row[key] for row in rows)
    t = {key: median(rounds, key) for key in rounds[0]}
    rd = {key: median(redis, key) for key in redis[0]}
    print("Trellis, 3 -> 4 groups, %d keys (medians of %d rounds):" % (args.keys, args.rounds))
    for phase in ("before", "during", "after"):
        print("  %-7s %9.0f ops/s  p99 %7.0f us" % (phase, t[phase + "_ops"],
                                                    t[phase + "_p99_us"]))
    print("  (during: the whole move, in windows of 1.5 s; its p99 is the worst window's;"
          " misses of keys that were there: %d)" % max(row["during_misses"] for row in rounds))
    print("  during/before throughput: %.2f" % (t["during_ops"] / t["before_ops"]))
    print("  rebalance: %d keys in %.1f s (%.0f keys/s)" % (
        t["rebalance_keys"], t["rebalance_seconds"], t["rebalance_keys"] / t["rebalance_seconds"]))
    print("  drain of a group holding every key: %d keys in %.1f s (%.0f keys/s)" % (
        t["drain_keys"], t["drain_seconds"], t["drain_keys"] / t["drain_seconds"]))
    print("Redis Cluster 7.0, 3 -> 4 masters, same keys: %d keys in %.1f s (%.0f keys/s)" % (
        rd["rebalance_keys"], rd["rebalance_seconds"],
        rd["rebalance_keys"] / rd["rebalance_seconds"]))


if __name__ == "__main__":
    main()
