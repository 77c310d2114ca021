"""CDB's backups and point-in-time restore measured (docs/db.md, "Backups and
point-in-time restore"): `trellis db run` with two MariaDB 10.11 servers on free loopback
ports, sysbench's tables (--tables x --table-size) prepared on the primary, then:

- a full backup asked of the manager (`trellis db backup`), against mariadb-backup run by
  hand on the same primary with the same options (the peer: what an operator scripts),
  as a ratio of wall times;
- sysbench oltp_write_only for --duration seconds (the transactions the archive will
  hold), then an incremental backup, timed the same two ways;
- `trellis db restore` to the second after the load (before the incremental finished:
  so from the full backup, and the whole load replayed from the archived binary log):
  its wall time, and the load's transactions over it.

Medians of --rounds rounds each; every figure printed with the command that made it.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from loopback import free_port, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
TRELLIS = os.path.join(HERE, "..", "build", "bin", "trellis")


def run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def timed(args, **kwargs):
    start = time.monotonic()
    out = run(args, **kwargs)
    return time.monotonic() - start, out.stdout


def topology(admin):
    with urllib.request.urlopen("http://127.0.0.1:%d/v1/db/topology" % admin) as reply:
        return json.load(reply)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--tables", type=int, default=4)
    parser.add_argument("--table-size", type=int, default=100000)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="trellis-db-backup-bench-")
    log = open(os.path.join(workdir, "manager.log"), "w")
    ports = [free_port(), free_port()]
    admin = free_port()
    config = os.path.join(workdir, "db.toml")
    with open(config, "w") as f:
        for i, port in enumerate(ports):
            f.write('[[instance]]\nname = "db%d"\nlisten = "127.0.0.1:%d"\n' % (i + 1, port))
        f.write('[[user]]\nname = "app"\npassword = "secret"\n')
        f.write('[backup]\nfull_every = "0"\nincremental_every = "0"\n')
    data = os.path.join(workdir, "data")
    manager = subprocess.Popen([TRELLIS, "db", "run", "--config", config, "--data", data,
                                "--admin", "127.0.0.1:%d" % admin],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(admin, 180)
        deadline = time.monotonic() + 120
        while not topology(admin)["replicas"]:
            if time.monotonic() > deadline:
                raise RuntimeError("no replica; see %s" % log.name)
            time.sleep(0.2)
        primary = topology(admin)["primary"]
        primary_port = int(primary.rsplit(":", 1)[1])
        primary_name = "db%d" % (ports.index(primary_port) + 1)
        sysbench = ["sysbench", "--db-driver=mysql", "--mysql-host=127.0.0.1",
                    "--mysql-port=%d" % primary_port, "--mysql-user=app",
                    "--mysql-password=secret", "--mysql-db=sbtest", "--tables=%d" % args.tables,
                    "--table-size=%d" % args.table_size]
        run(["mariadb", "--no-defaults", "-h127.0.0.1", "-P%d" % primary_port, "-uapp",
             "-psecret", "-e", "CREATE DATABASE sbtest"])
        run(sysbench + ["oltp_write_only", "prepare"])
        tools = os.path.join(data, "tools.cnf")
        by_hand = ["mariadb-backup", "--defaults-file=" + tools, "--backup",
                   "--host=127.0.0.1", "--port=%d" % primary_port,
                   "--datadir=" + os.path.join(data, primary_name)]
        manager_url = "http://127.0.0.1:%d" % admin
        results = {"full": [], "full_by_hand": [], "incremental": [], "incremental_by_hand": [],
                   "restore": [], "replayed_per_second": [], "transactions": []}
        for round_number in range(args.rounds):
            hand = os.path.join(workdir, "by-hand-%d" % round_number)
            # Each round in the other order: the second of two copies finds more in the
            # page cache.
            full_by_hand = lambda: results["full_by_hand"].append(
                timed(by_hand + ["--target-dir=" + hand + "-full"])[0])
            full = lambda: results["full"].append(
                timed([TRELLIS, "db", "backup", "--manager", manager_url])[0])
            for take in ((full_by_hand, full) if round_number % 2 == 0 else (full, full_by_hand)):
                take()
            load = run(sysbench + ["--threads=16", "--time=%d" % args.duration,
                                   "oltp_write_only", "run"]).stdout
            transactions = int(load.split("transactions:")[1].split()[0])
            results["transactions"].append(transactions)
            time.sleep(1.1)  # The restore's second: after every transaction of the load.
            restore_to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            incremental_by_hand = lambda: results["incremental_by_hand"].append(timed(
                by_hand + ["--target-dir=" + hand + "-incr",
                           "--incremental-basedir=" + hand + "-full"])[0])
            incremental = lambda: results["incremental"].append(
                timed([TRELLIS, "db", "backup", "--manager", manager_url, "--incremental"])[0])
            for take in ((incremental_by_hand, incremental) if round_number % 2 == 0
                         else (incremental, incremental_by_hand)):
                take()
            into = os.path.join(workdir, "restored-%d" % round_number)
            seconds, _ = timed([TRELLIS, "db", "restore", "--backups",
                                os.path.join(data, "backups"), "--to", restore_to, "--into",
                                into])
            results["restore"].append(seconds)
            results["replayed_per_second"].append(transactions / seconds)
            shutil.rmtree(into, ignore_errors=True)
            for suffix in ("-full", "-incr"):
                shutil.rmtree(hand + suffix, ignore_errors=True)
        size = run(["du", "-sm", os.path.join(data, primary_name)]).stdout.split()[0]
        median = {key: statistics.median(values) for key, values in results.items()}
        print("data directory %s MB (%d tables of %d rows), %d rounds, medians:" %
              (size, args.tables, args.table_size, args.rounds))
        print("  full backup         %.2f s (mariadb-backup by hand %.2f s): ratio %.2f" %
              (median["full"], median["full_by_hand"], median["full"] / median["full_by_hand"]))
        print("  incremental backup  %.2f s (mariadb-backup by hand %.2f s): ratio %.2f" %
              (median["incremental"], median["incremental_by_hand"],
               median["incremental"] / median["incremental_by_hand"]))
        print("  restore             %.2f s: full backup + %d transactions of the archive, "
              "%.0f transactions/s" % (median["restore"], median["transactions"],
                                       median["replayed_per_second"]))
    finally:
        manager.terminate()
        manager.wait(60)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
