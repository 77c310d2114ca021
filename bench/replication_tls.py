"""What mutual TLS costs sync replication (docs/security.md).

Each round on loopback, four set-only runs of `trellis bench` (--connections 8, pipeline
1, 64-byte values) against a main cache node (2 threads) with `--sync-replication`:
  plain alone: no backup, plaintext;   tls alone: no backup, the port on mutual TLS;
  plain pair:  a backup follows it;    tls pair:  a backup follows it over mutual TLS.
The TLS runs use certificates of one `trellis ca` (the main's --cluster-cert, the backup's,
and the bench's --tls-cert), as a cluster with a CA does. A sync write is answered once
the backup has it, so the pair's latency holds the replication round trip; the alone runs
show what the client's own TLS leg costs, so that
    replication's cost = (tls pair / plain pair) / (tls alone / plain alone).
Each round's ratios, then their medians over --rounds (the order of the four alternates).
Usage: bench/replication_tls.py [--rounds N] [--seconds S]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request

from loopback import free_port, wait_port

TRELLIS = os.path.join(os.path.dirname(__file__), "..", "build", "bin", "trellis")
KINDS = ("plain alone", "tls alone", "plain pair", "tls pair")


def issue(workdir, name):
    ca = os.path.join(workdir, "ca")
    subprocess.run([TRELLIS, "ca", "--data", ca, "issue", name, "--ip", "127.0.0.1"],
                   check=True, capture_output=True)
    issued = os.path.join(ca, "issued", name)
    return ["--cluster-ca", os.path.join(ca, "ca.crt"), "--cluster-cert", issued + ".crt",
            "--cluster-key", issued + ".key"]


def status(admin):
    with urllib.request.urlopen("http://127.0.0.1:%d/v1/status" % admin) as reply:
        return json.load(reply)["replication"]


def run(workdir, kind, seconds):
    tls = kind.startswith("tls")
    processes = []

    def start(args, port):
        log = open(os.path.join(workdir, "%d.log" % port), "w")
        processes.append(subprocess.Popen([TRELLIS] + args + ["--log-level", "warn"],
                                          stdout=log, stderr=log))
        wait_port(port)

    try:
        main, admin = free_port(), free_port()
        start(["cache", "--listen", "127.0.0.1:%d" % main, "--admin", "127.0.0.1:%d" % admin,
               "--threads", "2", "--sync-replication"] + (issue(workdir, "main") if tls else []),
              main)
        if kind.endswith("pair"):
            backup = free_port()
            start(["cache", "--listen", "127.0.0.1:%d" % backup, "--threads", "2",
                   "--replica-of", "127.0.0.1:%d" % main] +
                  (issue(workdir, "backup") if tls else []), backup)
            deadline = time.monotonic() + 10
            while status(admin)["backups"] < 1:
                if time.monotonic() > deadline:
                    raise RuntimeError("the backup did not connect")
                time.sleep(0.05)
        client = []
        if tls:
            identity = issue(workdir, "bench")
            client = ["--tls-ca", identity[1], "--tls-cert", identity[3], "--tls-key", identity[5]]
        cmd = [TRELLIS, "bench", "--server", "127.0.0.1:%d" % main, "--ratio", "1:0",
               "--connections", "8", "--value-size", "64", "--keys", "100000", "--duration",
               str(seconds), "--warmup", "1", "--json"] + client
        report = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                           text=True).stdout)
        report["degraded"] = status(admin)["degraded_writes"]
        return report
    finally:
        for p in processes:
            p.kill()
            p.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    rounds = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as workdir:
            subprocess.run([TRELLIS, "ca", "--data", os.path.join(workdir, "ca"), "init"],
                           check=True, capture_output=True)
            order = KINDS if r % 2 == 0 else tuple(reversed(KINDS))
            rounds.append({kind: run(workdir, kind, args.seconds) for kind in order})
    for r in rounds:
        for kind in KINDS:
            if r[kind]["errors"] or (kind.endswith("pair") and r[kind]["degraded"]):
                raise RuntimeError("%s: errors %s, %d degraded writes" %
                                   (kind, r[kind]["errors"], r[kind]["degraded"]))

    def median(kind, value):
        return statistics.median(value(r[kind]) for r in rounds)

    print("| sync sets, 8 connections | sets/s | p50 (us) | p99 (us) |")
    print("|---|---|---|---|")
    for kind in KINDS:
        print("| %s | %.0f | %.0f | %.0f |" % (
            kind, median(kind, lambda x: x["ops_per_second"]),
            median(kind, lambda x: x["latency_us"]["p50"]),
            median(kind, lambda x: x["latency_us"]["p99"])))

    def ratio(value):
        """Median over rounds of replication's share of TLS's cost on `value`."""
        return statistics.median(
            (value(r["tls pair"]) / value(r["plain pair"])) /
            (value(r["tls alone"]) / value(r["plain alone"])) for r in rounds)

    print()
    print("mutual TLS on replication (pair ratio over alone ratio, median of %d rounds): "
          "throughput x%.2f, p50 x%.2f, p99 x%.2f" % (
              args.rounds, ratio(lambda x: x["ops_per_second"]),
              ratio(lambda x: x["latency_us"]["p50"]), ratio(lambda x: x["latency_us"]["p99"])))


if __name__ == "__main__":
    main()
