"""Several masters on etcd (docs/master.md, "Several masters on etcd"): how long a cluster
is without a leader once the leading master is killed, how soon a change reaches every
access node, and what following the map costs etcd.

On loopback: a three-member etcd (Debian's etcd-server, default timings) and three
masters on it (--etcd), one group g1 in the map.
  failover: SIGKILL the leading master; the time until another one answers as the leader
    (GET /v1/migrations answered 200 rather than redirected), polled every 5 ms; the
    killed master is started again (it follows) before the next kill. --kills kills.
    The same for a clean stop (SIGTERM: the leader resigns).
  propagation: five access nodes, each given the three masters' URLs in another order
    (so that they follow followers as well as the leader); --changes changes of g1's
    write mode sent to the leader; for each, the time from sending the request (so the
    leader's write to etcd is included) until every access node's /v1/status shows the
    new map version, polled back to back. The same with one master on SQLite as the
    reference.
  etcd load: the requests the etcd members handled per second (grpc_server_handled_total
    summed over the members) over --window seconds while the map changes every 0.5 s,
    with no follower and with 100 followers (each holding the long-poll a node holds,
    GET /v1/cluster?after=V, spread over the three masters).
Reported: medians, and 90th percentiles for propagation.
"""
import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from loopback import free_port, wait_port


def call(port, method, path, body=None, timeout=15):
    """(status, parsed body) of one request to 127.0.0.1:port; no redirect followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json"})
        reply = connection.getresponse()
        data = reply.read()
        try:
            return reply.status, json.loads(data or b"null")
        except ValueError:
            return reply.status, None
    finally:
        connection.close()


def answers(port, method, path):
    try:
        return call(port, method, path, timeout=2)[0]
    except OSError:
        return 0


class Processes:
    def __init__(self, workdir):
        self.workdir = workdir
        self.running = {}

    def start(self, name, args):
        log = open(os.path.join(self.workdir, name + ".log"), "a")
        self.running[name] = subprocess.Popen(args, stdout=log, stderr=log)

    def signal(self, name, signum):
        process = self.running.pop(name)
        process.send_signal(signum)
        process.wait()

    def stop_all(self):
        for process in self.running.values():
            process.kill()
            process.wait()
        self.running.clear()


def start_etcd(processes, workdir):
    members = [(free_port(), free_port()) for _ in range(3)]
    cluster = ",".join("m%d=http://127.0.0.1:%d" % (i, peer) for i, (_, peer) in enumerate(members))
    for i, (client, peer) in enumerate(members):
        processes.start("etcd%d" % i, [
            "etcd", "--name", "m%d" % i, "--data-dir", os.path.join(workdir, "etcd%d" % i),
            "--listen-client-urls", "http://127.0.0.1:%d" % client,
            "--advertise-client-urls", "http://127.0.0.1:%d" % client,
            "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
            "--initial-cluster", cluster, "--initial-cluster-state", "new"])
    for client, _ in members:
        deadline = time.monotonic() + 30
        while answers(client, "GET", "/health") != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("etcd did not come up")
            time.sleep(0.05)
    return [client for client, _ in members]


class Masters:
    def __init__(self, trellis, processes, workdir, etcd_ports):
        self.trellis, self.processes, self.workdir = trellis, processes, workdir
        self.etcd = ",".join("http://127.0.0.1:%d" % p for p in etcd_ports)
        self.ports = [free_port() for _ in range(3)]
        for i in range(3):
            self.start(i)

    def start(self, i):
        self.processes.start("master%d" % i, [
            self.trellis, "master", "--listen", "127.0.0.1:%d" % self.ports[i], "--data",
            os.path.join(self.workdir, "master%d" % i), "--etcd", self.etcd,
            "--etcd-prefix", "/trellis/bench", "--log-level", "warn"])
        wait_port(self.ports[i])

    def leader(self):
        leading = [i for i in range(3) if "master%d" % i in self.processes.running
                   and answers(self.ports[i], "GET", "/v1/migrations") == 200]
        return leading[0] if len(leading) == 1 else None

    def wait_leader(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None:
                return leader
            time.sleep(0.005)
        raise RuntimeError("no master leads")

    def urls(self, order):
        return ",".join("http://127.0.0.1:%d" % self.ports[i] for i in order)


def leader_failover(masters, kills, signum):
    seconds = []
    for _ in range(kills):
        killed = masters.wait_leader()
        start = time.monotonic()
        masters.processes.signal("master%d" % killed, signum)
        masters.wait_leader()
        seconds.append(time.monotonic() - start)
        masters.start(killed)
    return seconds


def start_access_nodes(trellis, processes, master_urls):
    admins = []
    for i, urls in enumerate(master_urls):
        port, admin = free_port(), free_port()
        processes.start("access%d" % i, [
            trellis, "access", "--listen", "127.0.0.1:%d" % port, "--admin",
            "127.0.0.1:%d" % admin, "--threads", "1", "--master", urls, "--log-level", "warn"])
        wait_port(admin)
        admins.append(admin)
    return admins


def propagation(leader_port, admins, changes):
    seconds = []
    for n in range(changes):
        mode = "sync" if n % 2 == 0 else "async"
        start = time.monotonic()
        status, reply = call(leader_port, "POST", "/v1/groups/g1/mode", {"mode": mode})
        if status != 200:
            raise RuntimeError("mode change answered %d: %s" % (status, reply))
        waiting = set(admins)
        while waiting:
            for admin in list(waiting):
                _, state = call(admin, "GET", "/v1/status")
                if state["route_table"]["version"] >= reply["version"]:
                    waiting.discard(admin)
        seconds.append(time.monotonic() - start)
        time.sleep(0.05)
    return seconds


def etcd_requests(etcd_ports):
    total = 0
    for port in etcd_ports:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
        for match in re.finditer(r"^grpc_server_handled_total\{[^}]*\} ([0-9.e+]+)$", text, re.M):
            total += float(match.group(1))
    return total


def follow(port, stop):
    """What a node does: a long-poll for the next map, again and again."""
    after = 0
    while not stop.is_set():
        try:
            status, body = call(port, "GET", "/v1/cluster?after=%d&wait=10" % after, timeout=15)
            if status == 200:
                after = body["version"]
        except OSError:
            time.sleep(0.1)


def etcd_load(masters, etcd_ports, followers, window):
    stop = threading.Event()
    threads = [threading.Thread(target=follow, args=(masters.ports[i % 3], stop), daemon=True)
               for i in range(followers)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # Every follower holds its poll.
    leader = masters.ports[masters.wait_leader()]
    before = etcd_requests(etcd_ports)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < window:
        call(leader, "POST", "/v1/groups/g1/mode", {"mode": "sync" if n % 2 == 0 else "async"})
        n += 1
        time.sleep(0.5)
    rate = (etcd_requests(etcd_ports) - before) / (time.monotonic() - start)
    stop.set()
    return rate, n


def p90(values):
    return sorted(values)[int(0.9 * (len(values) - 1))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trellis", default="build/bin/trellis")
    parser.add_argument("--kills", type=int, default=7)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--window", type=float, default=20)
    args = parser.parse_args()
    trellis = os.path.abspath(args.trellis)
    orders = [(0, 1, 2), (1, 2, 0), (2, 0, 1), (1, 0, 2), (2, 1, 0)]
    with tempfile.TemporaryDirectory() as workdir:
        processes = Processes(workdir)
        try:
            etcd_ports = start_etcd(processes, workdir)
            masters = Masters(trellis, processes, workdir, etcd_ports)
            leader = masters.wait_leader()
            call(masters.ports[leader], "POST", "/v1/groups", {"name": "g1"})
            killed = leader_failover(masters, args.kills, signal.SIGKILL)
            stopped = leader_failover(masters, args.kills, signal.SIGTERM)
            print("leader failover, SIGKILL: median %.2f s (min %.2f, max %.2f) over %d kills"
                  % (statistics.median(killed), min(killed), max(killed), len(killed)))
            print("leader failover, SIGTERM: median %.3f s (min %.3f, max %.3f) over %d stops"
                  % (statistics.median(stopped), min(stopped), max(stopped), len(stopped)))
            admins = start_access_nodes(trellis, processes,
                                        [masters.urls(order) for order in orders])
            spread = propagation(masters.ports[masters.wait_leader()], admins, args.changes)
            print("propagation on etcd, leader's change to 5 access nodes: median %.1f ms, "
                  "p90 %.1f ms, max %.1f ms" % (1000 * statistics.median(spread),
                                                1000 * p90(spread), 1000 * max(spread)))
            quiet, changes = etcd_load(masters, etcd_ports, 0, args.window)
            busy, _ = etcd_load(masters, etcd_ports, 100, args.window)
            print("etcd requests/s (3 masters, a map change every 0.5 s, %d changes): "
                  "%.1f with no follower, %.1f with 100 followers" % (changes, quiet, busy))
        finally:
            processes.stop_all()
        processes = Processes(workdir)
        try:
            port = free_port()
            processes.start("sqlite", [trellis, "master", "--listen", "127.0.0.1:%d" % port,
                                       "--data", os.path.join(workdir, "sqlite"),
                                       "--log-level", "warn"])
            wait_port(port)
            call(port, "POST", "/v1/groups", {"name": "g1"})
            admins = start_access_nodes(trellis, processes,
                                        ["http://127.0.0.1:%d" % port] * len(orders))
            spread = propagation(port, admins, args.changes)
            print("propagation on SQLite (one master) to 5 access nodes: median %.1f ms, "
                  "p90 %.1f ms, max %.1f ms" % (1000 * statistics.median(spread),
                                                1000 * p90(spread), 1000 * max(spread)))
        finally:
            processes.stop_all()


if __name__ == "__main__":
    sys.exit(main())
