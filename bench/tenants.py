"""Tenant isolation benchmark (docs/security.md): does a tenant flooding an access node
past its rate move another tenant's latency?

Each round on a fresh cluster on loopback: a master, one group of one cache node, one
access node with --auth (2 threads); tenant "steady" without a limit and tenant "flood"
limited to --flood-limit requests/s. `trellis bench` as steady (open loop at --rate,
1:9 SET:GET, 64-byte values over 10,000 keys) runs alone, then again while `trellis
bench` as flood sends as fast as it can (closed loop, 8 connections, pipeline 16), most
of which the access node refuses. The order alternates between rounds. Reported: medians
over --rounds of steady's p50 and p99 in each case, the median of each round's ratio, and
flood's refusals/s.
Usage: bench/tenants.py [--rounds N] [--seconds S] [--rate R] [--flood-limit L]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time

from loopback import free_port, wait_port
from scale_out import api

TRELLIS = os.path.join(os.path.dirname(__file__), "..", "build", "bin", "trellis")


class Cluster:
    """Master, one cache node, an access node with --auth, and the two tenants."""

    def __init__(self, workdir, flood_limit):
        self.workdir = workdir
        self.processes = []
        self.master = free_port()
        self._start(["master", "--listen", "127.0.0.1:%d" % self.master, "--data",
                     os.path.join(workdir, "master")], self.master)
        api(self.master, "POST", "/v1/groups", {"name": "g1"})
        node = free_port()
        self._start(["cache", "--listen", "127.0.0.1:%d" % node, "--threads", "2", "--master",
                     self.master_url(), "--group", "g1"], node)
        while not api(self.master, "GET", "/v1/cluster")["groups"][0]["main"]:
            time.sleep(0.05)
        self.logins = {}
        for name, limit in (("steady", 0), ("flood", flood_limit)):
            issued = api(self.master, "POST", "/v1/tenants",
                         {"name": name, "ops_per_second": limit})
            path = os.path.join(workdir, name + ".login")
            with open(path, "w") as out:
                out.write("%s %s\n" % (name, issued["password"]))
            self.logins[name] = path
        self.access = free_port()
        self._start(["access", "--listen", "127.0.0.1:%d" % self.access, "--threads", "2",
                     "--auth", "--master", self.master_url()], self.access)

    def master_url(self):
        return "http://127.0.0.1:%d" % self.master

    def _start(self, args, port):
        log = open(os.path.join(self.workdir, "%d.log" % port), "w")
        self.processes.append(subprocess.Popen([TRELLIS] + args + ["--log-level", "warn"],
                                               stdout=log, stderr=log))
        wait_port(port)

    def bench(self, tenant, extra):
        cmd = [TRELLIS, "bench", "--server", "127.0.0.1:%d" % self.access, "--keys", "10000",
               "--value-size", "64", "--ratio", "1:9", "--login-file", self.logins[tenant],
               "--json"] + extra
        return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    def stop(self):
        for p in self.processes:
            p.kill()
            p.wait()


def one_round(args, flood_first):
    with tempfile.TemporaryDirectory() as workdir:
        cluster = Cluster(workdir, args.flood_limit)
        try:
            steady_args = ["--duration", str(args.seconds), "--rate", str(args.rate),
                           "--threads", "1", "--connections", "8"]
            cluster.bench("steady", ["--fill", "--threads", "1", "--connections", "4"])
            results = {}
            for phase in (["flood", "alone"] if flood_first else ["alone", "flood"]):
                if phase == "alone":
                    results["alone"] = cluster.bench("steady", steady_args)
                    continue
                flood = {}
                flooder = threading.Thread(target=lambda: flood.update(cluster.bench(
                    "flood", ["--duration", str(args.seconds + 2), "--threads", "1",
                              "--connections", "8", "--pipeline", "16"])))
                flooder.start()
                time.sleep(1)  # The flood runs before and after the measured run.
                results["flood"] = cluster.bench("steady", steady_args)
                flooder.join()
                results["flooder"] = flood
            return results
        finally:
            cluster.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rate", type=int, default=20000)
    parser.add_argument("--flood-limit", type=int, default=1000)
    args = parser.parse_args()
    rounds = [one_round(args, flood_first=(r % 2 == 1)) for r in range(args.rounds)]
    for r in rounds:
        for phase in ("alone", "flood"):
            if r[phase]["errors"]:
                raise RuntimeError("steady got errors: %s" % r[phase]["errors"])

    def median(phase, *path):
        values = []
        for r in rounds:
            value = r[phase]
            for key in path:
                value = value[key]
            values.append(value)
        return statistics.median(values)

    alone_p50, alone_p99 = median("alone", "latency_us", "p50"), median("alone", "latency_us", "p99")
    flood_p50, flood_p99 = median("flood", "latency_us", "p50"), median("flood", "latency_us", "p99")
    refused = statistics.median(
        sum(r["flooder"]["errors"].values()) / r["flooder"]["seconds"] for r in rounds)
    served = median("flooder", "ops_per_second")
    print("| steady tenant at %d req/s | p50 (us) | p99 (us) |" % args.rate)
    print("|---|---|---|")
    print("| alone | %.0f | %.0f |" % (alone_p50, alone_p99))
    print("| while flood sends past its %d req/s | %.0f | %.0f |" % (args.flood_limit, flood_p50,
                                                                   flood_p99))
    # Each round's own ratio (alone and flooded ran back to back), then their median: the
    # machine's drift between rounds cancels out.
    paired = {q: statistics.median(r["flood"]["latency_us"][q] / r["alone"]["latency_us"][q]
                                   for r in rounds) for q in ("p50", "p99")}
    print("| median of the rounds' ratios | %.2f | %.2f |" % (paired["p50"], paired["p99"]))
    print()
    print("flood: %.0f requests/s refused, %.0f/s served (medians of %d rounds of %.0f s)" %
          (refused, served, args.rounds, args.seconds))


if __name__ == "__main__":
    main()
