"""Gateway benchmark (docs/gateway.md): HTTP keep-alive requests/s and TCP throughput
through `trellis gateway`, HAProxy and nginx, side by side on this machine.

Backend: one nginx (one worker) serving a small static file (and, for L4, a 1 MiB file).
Each proxy runs one worker thread and relays to that backend:
  trellis gateway --threads 1, an http listener (and a tcp listener) to a pool of it;
  haproxy 2.6 (nbthread 1), mode http with http-reuse safe (and mode tcp);
  nginx (worker_processes 1) as a reverse proxy with upstream keepalive (and stream if
    the module is there; nginx-light has none, so its L4 column is empty).
Load: wrk (--threads 1, --connections C, --duration D) on the small file, keep-alive, for
L7 requests/s and latency percentiles; wrk on the 1 MiB file through the tcp listener for
L4 MB/s. Each round runs every proxy in turn; reported: medians of --rounds rounds and
the gateway's ratio to each.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from loopback import free_port, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
TRELLIS = os.path.join(HERE, "..", "build", "bin", "trellis")


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def nginx_backend(workdir, port):
    root = os.path.join(workdir, "www")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "small.html"), "w") as f:
        f.write("x" * 64)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))
    conf = os.path.join(workdir, "backend.conf")
    with open(conf, "w") as f:
        f.write("""daemon off; master_process off; worker_processes 1; pid %s/backend.pid;
error_log stderr error;
events { worker_connections 4096; }
http { access_log off; sendfile on; keepalive_requests 1000000;
  server { listen 127.0.0.1:%d backlog=4096; root %s; } }
""" % (workdir, port, root))
    return ["/usr/sbin/nginx", "-c", conf, "-p", workdir, "-e", "stderr"]


def trellis_proxy(workdir, http_port, tcp_port, backend):
    conf = os.path.join(workdir, "gateway.toml")
    with open(conf, "w") as f:
        f.write("""[[listener]]
name = "web"
bind = "127.0.0.1:%d"
kind = "http"
[[listener.route]]
host = "*"
path = "/"
pool = "backend"
[[listener]]
name = "l4"
bind = "127.0.0.1:%d"
kind = "tcp"
pool = "backend"
[[pool]]
name = "backend"
servers = ["127.0.0.1:%d"]
""" % (http_port, tcp_port, backend))
    return [TRELLIS, "gateway", "--config", conf, "--threads", "1", "--log-level", "warn"]


def haproxy_proxy(workdir, http_port, tcp_port, backend):
    conf = os.path.join(workdir, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write("""global
  nbthread 1
  maxconn 4096
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend web
  mode http
  bind 127.0.0.1:%d
  option forwardfor
  default_backend backend
backend backend
  mode http
  http-reuse safe
  server s1 127.0.0.1:%d
listen l4
  mode tcp
  bind 127.0.0.1:%d
  server s1 127.0.0.1:%d
""" % (http_port, backend, tcp_port, backend))
    return ["/usr/sbin/haproxy", "-f", conf, "-db"]


def nginx_proxy(workdir, http_port, tcp_port, backend):
    conf = os.path.join(workdir, "proxy.conf")
    with open(conf, "w") as f:
        f.write("""daemon off; master_process off; worker_processes 1; pid %s/proxy.pid;
error_log stderr error;
events { worker_connections 4096; }
http { access_log off;
  upstream backend { server 127.0.0.1:%d; keepalive 64; }
  server { listen 127.0.0.1:%d backlog=4096;
    location / { proxy_pass http://backend; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $remote_addr; } } }
""" % (workdir, backend, http_port))
    return ["/usr/sbin/nginx", "-c", conf, "-p", workdir, "-e", "stderr"]


def wrk(url, connections, duration):
    out = subprocess.run(["wrk", "--threads", "1", "--connections", str(connections),
                          "--duration", "%ds" % duration, "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1 / 1e6, "KB": 1 / 1024, "MB": 1, "GB": 1024}[transfer.group(2)]
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    return {"rps": requests, "mbps": float(transfer.group(1)) * scale,
            "p99_ms": float(p99.group(1)) * unit, "errors": errors.group(0) if errors else ""}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    for tool in ("wrk", "/usr/sbin/nginx", "/usr/sbin/haproxy"):
        if not shutil.which(tool):
            sys.exit("bench/gateway.py: %s is missing (scripts/setup installs it)" % tool)
    workdir = tempfile.mkdtemp(prefix="trellis-bench-gateway-")
    log = open(os.path.join(workdir, "log"), "w")
    backend = free_port()
    processes = [start(nginx_backend(workdir, backend), log)]
    try:
        wait_port(backend)
        proxies = {"trellis": trellis_proxy, "haproxy": haproxy_proxy, "nginx": nginx_proxy}
        results = {name: [] for name in proxies}
        for round_index in range(args.rounds):
            for name, make in proxies.items():
                http_port, tcp_port = free_port(), free_port()
                proxy = start(make(workdir, http_port, tcp_port, backend), log)
                try:
                    wait_port(http_port)
                    wrk("http://127.0.0.1:%d/small.html" % http_port, args.connections, 2)  # warm
                    l7 = wrk("http://127.0.0.1:%d/small.html" % http_port, args.connections,
                             args.duration)
                    l4 = None
                    if name != "nginx":
                        wait_port(tcp_port)
                        l4 = wrk("http://127.0.0.1:%d/big.bin" % tcp_port, 4, args.duration)
                    results[name].append({"l7": l7, "l4": l4})
                    print("round %d %s: %.0f req/s p99 %.2f ms%s%s" % (
                        round_index + 1, name, l7["rps"], l7["p99_ms"],
                        ", L4 %.0f MB/s" % l4["mbps"] if l4 else "",
                        " (%s)" % l7["errors"] if l7["errors"] else ""), flush=True)
                finally:
                    proxy.terminate()
                    proxy.wait()
        def median(name, key, layer="l7"):
            values = [r[layer][key] for r in results[name] if r[layer]]
            return statistics.median(values) if values else None
        print("Gateway, one worker each, wrk -t1 -c%d, %d s, medians of %d rounds:" % (
            args.connections, args.duration, args.rounds))
        for name in proxies:
            l4 = median(name, "mbps", "l4")
            print("  %-8s L7 %8.0f req/s  p99 %6.2f ms   L4 %s" % (
                name, median(name, "rps"), median(name, "p99_ms"),
                "%.0f MB/s" % l4 if l4 else "-"))
        for other in ("haproxy", "nginx"):
            print("  trellis / %s: L7 %.2f" % (other, median("trellis", "rps") / median(other, "rps")),
                  end="")
            if median(other, "mbps", "l4"):
                print(", L4 %.2f" % (median("trellis", "mbps", "l4") / median(other, "mbps", "l4")),
                      end="")
            print()
    finally:
        for process in processes:
            process.terminate()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
