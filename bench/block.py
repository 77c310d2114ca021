"""The block store measured (docs/block.md) side by side with nbdkit's file plugin, the
peer: the same fio jobs over NBD on loopback against

- `trellis nbd` in front of three `trellis blockd` storage nodes and a master, one
  volume of each redundancy asked for (replica:3 by default), all on this machine's disk;
- `nbdkit file` serving one file of the same size on the same disk (no redundancy).

Jobs (fio's nbd engine, one job, --iodepth 32 unless said): 4 KiB random reads, 4 KiB
random writes, 1 MiB sequential reads and writes, each for --duration seconds after the
target was filled once by a sequential write (so that reads read data, not holes). IOPS,
MB/s and the 99th percentile of completion latency; medians of --rounds rounds, the
targets taking turns within a round. Also the usable share of the raw space each
redundancy gives. Prints a Markdown table and the commands that made it.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from loopback import free_port, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
TRELLIS = os.path.join(HERE, "..", "build", "bin", "trellis")

JOBS = [
    ("4k randread", "randread", "4k"),
    ("4k randwrite", "randwrite", "4k"),
    ("1m read", "read", "1m"),
    ("1m write", "write", "1m"),
]


def fio(uri, rw, bs, size, duration, iodepth):
    args = ["fio", "--name=bench", "--ioengine=nbd", "--uri=" + uri, "--rw=" + rw,
            "--bs=" + bs, "--size=" + size, "--iodepth=%d" % iodepth, "--output-format=json"]
    if duration:
        args += ["--time_based", "--runtime=%d" % duration, "--ramp_time=1"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["read"] if "read" in rw else job["write"]
    return {"iops": side["iops"], "mbps": side["bw_bytes"] / 1e6,
            "p99_ms": side["clat_ns"]["percentile"]["99.000000"] / 1e6}


class Trellis:
    def __init__(self, workdir, redundancies, size):
        self.procs = []
        self.log = open(os.path.join(workdir, "trellis.log"), "w")
        master = free_port()
        self.master_url = "http://127.0.0.1:%d" % master
        self.spawn(["master", "--listen", "127.0.0.1:%d" % master,
                    "--data", os.path.join(workdir, "master")])
        wait_port(master)
        for i in range(6):
            port = free_port()
            self.spawn(["blockd", "--listen", "127.0.0.1:%d" % port, "--data",
                        os.path.join(workdir, "blockd%d" % i), "--master", self.master_url])
            wait_port(port)
        self.nbd = free_port()
        self.spawn(["nbd", "--listen", "127.0.0.1:%d" % self.nbd, "--master", self.master_url])
        wait_port(self.nbd)
        self.volumes = {}
        for redundancy in redundancies:
            name = redundancy.replace(":", "-").replace("+", "-")
            deadline = time.monotonic() + 20
            while True:
                made = subprocess.run([TRELLIS, "volume", "--master", self.master_url, "create",
                                       name, "--size", size, "--redundancy", redundancy],
                                      capture_output=True, text=True)
                if made.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)  # The storage nodes are still registering.
            if made.returncode != 0:
                raise RuntimeError(made.stderr)
            self.volumes[redundancy] = "nbd://127.0.0.1:%d/%s" % (self.nbd, name)

    def spawn(self, args):
        self.procs.append(subprocess.Popen([TRELLIS] + args + ["--admin", "127.0.0.1:0"],
                                           stdout=self.log, stderr=subprocess.STDOUT))

    def stop(self):
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            proc.wait()


class Nbdkit:
    def __init__(self, workdir, size):
        path = os.path.join(workdir, "nbdkit.img")
        subprocess.run(["truncate", "-s", size, path], check=True)
        self.port = free_port()
        self.proc = subprocess.Popen(["nbdkit", "--foreground", "--port", str(self.port),
                                      "--ipaddr", "127.0.0.1", "file", "file=" + path])
        wait_port(self.port)
        self.uri = "nbd://127.0.0.1:%d/" % self.port

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def usable(redundancy):
    kind, counts = redundancy.split(":")
    if kind == "replica":
        return 1 / int(counts)
    k, m = (int(x) for x in counts.split("+"))
    return k / (k + m)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--size", default="1G")
    parser.add_argument("--iodepth", type=int, default=32)
    parser.add_argument("--redundancy", action="append",
                        help="a volume of this redundancy (repeatable; default replica:3)")
    args = parser.parse_args()
    redundancies = args.redundancy or ["replica:3"]

    workdir = tempfile.mkdtemp(prefix="trellis-block-bench-")
    trellis = nbdkit = None
    try:
        trellis = Trellis(workdir, redundancies, args.size)
        nbdkit = Nbdkit(workdir, args.size)
        targets = {"nbdkit file": nbdkit.uri}
        targets.update({"trellis " + r: uri for r, uri in trellis.volumes.items()})
        for uri in targets.values():
            fio(uri, "write", "1m", args.size, 0, args.iodepth)  # Filled once.
        results = {name: {job: [] for job, _, _ in JOBS} for name in targets}
        for _ in range(args.rounds):
            for job, rw, bs in JOBS:
                for name, uri in targets.items():
                    results[name][job].append(fio(uri, rw, bs, args.size, args.duration,
                                                  args.iodepth))
        print("| target | usable | " + " | ".join(
            "%s IOPS | MB/s | p99 ms" % job for job, _, _ in JOBS) + " |")
        print("|---|---|" + "---|---|---|" * len(JOBS))
        for name in targets:
            share = "100%" if name == "nbdkit file" else "%.0f%%" % (
                usable(name.split(" ")[1]) * 100)
            cells = []
            for job, _, _ in JOBS:
                runs = results[name][job]
                cells += ["%.0f" % statistics.median(r["iops"] for r in runs),
                          "%.1f" % statistics.median(r["mbps"] for r in runs),
                          "%.2f" % statistics.median(r["p99_ms"] for r in runs)]
            print("| %s | %s | %s |" % (name, share, " | ".join(cells)))
        base = results["nbdkit file"]
        for name in targets:
            if name == "nbdkit file":
                continue
            ratios = ["%s %.2f" % (job, statistics.median(r["iops"] for r in results[name][job]) /
                                   statistics.median(r["iops"] for r in base[job]))
                      for job, _, _ in JOBS]
            print("%s / nbdkit: %s" % (name, ", ".join(ratios)))
    finally:
        if trellis:
            trellis.stop()
        if nbdkit:
            nbdkit.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
