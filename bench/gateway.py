"""Gateway benchmark (docs/gateway.md): HTTP keep-alive requests/s, TCP throughput, TLS
handshakes/s and latency under a flood of empty connections, through `trellis gateway`,
HAProxy and nginx, side by side on this machine.

Backend: one nginx (one worker) serving a small static file (and, for L4, a 1 MiB file).
Each proxy runs one worker thread and relays to that backend, adding the same three
fields to each request (X-Forwarded-For, X-Forwarded-Proto, Via: what trellis adds):
  trellis gateway --threads 1, an http listener (and a tcp listener) to a pool of it;
  haproxy 2.6 (nbthread 1), mode http with http-reuse safe (and mode tcp);
  nginx (worker_processes 1) as a reverse proxy with upstream keepalive (and stream if
    the module is there; nginx-light has none, so its L4 column is empty).
Each also terminates TLS (one ECDSA P-256 certificate, TLS 1.3) and relays to the same
backend; every proxy closes a connection that sends no request within 1 s.
Load: wrk (--threads 1, --connections C, --duration D) on the small file, keep-alive, for
L7 requests/s, latency percentiles and the CPU time per request of the proxy and of the
backend behind it (/proc/PID/stat over the run); wrk on the 1 MiB file through the tcp listener for
L4 MB/s; wrk over https with `Connection: close`, so that every request is a new
connection and a full handshake, for TLS handshakes/s; and, with 1,000 connections open
that never send a byte, wrk -c10 keep-alive for the p99 of a normal client (and how many
of the 1,000 the proxy closed). Each round runs every proxy in turn, starting with the
next one each round; reported: medians of --rounds rounds and the gateway's ratio to each.
--l7-only runs only the L7 requests/s part (more rounds in the same time).
"""
import argparse
import os
import re
import shutil
import socket
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


def certificate(workdir):
    """A self-signed ECDSA P-256 certificate and key for bench.example, and both in one PEM
    (HAProxy's form)."""
    cert, key = os.path.join(workdir, "bench.crt"), os.path.join(workdir, "bench.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=bench.example", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    both = os.path.join(workdir, "bench.pem")
    with open(both, "w") as out:
        out.write(open(cert).read() + open(key).read())
    return {"cert": cert, "key": key, "pem": both}


def trellis_proxy(workdir, ports, backend, tls):
    conf = os.path.join(workdir, "gateway.toml")
    with open(conf, "w") as f:
        f.write("""[[listener]]
name = "web"
bind = "127.0.0.1:%d"
kind = "http"
limits = { first_byte_timeout = "1s" }
[[listener.route]]
host = "*"
path = "/"
pool = "backend"
[[listener]]
name = "l4"
bind = "127.0.0.1:%d"
kind = "tcp"
pool = "backend"
[[listener]]
name = "secure"
bind = "127.0.0.1:%d"
kind = "tls"
tls = "terminate"
[[listener.route]]
host = "*"
path = "/"
pool = "backend"
[[listener.certificate]]
domain = "bench.example"
cert = "%s"
key = "%s"
[[pool]]
name = "backend"
servers = ["127.0.0.1:%d"]
""" % (ports["http"], ports["tcp"], ports["tls"], tls["cert"], tls["key"], backend))
    return [TRELLIS, "gateway", "--config", conf, "--threads", "1", "--log-level", "warn"]


def haproxy_proxy(workdir, ports, backend, tls):
    conf = os.path.join(workdir, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write("""global
  nbthread 1
  maxconn 4096
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-request 1s
frontend web
  mode http
  bind 127.0.0.1:%d
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request add-header Via "1.1 haproxy"
  default_backend backend
frontend secure
  mode http
  bind 127.0.0.1:%d ssl crt %s
  option forwardfor
  http-request set-header X-Forwarded-Proto https
  http-request add-header Via "1.1 haproxy"
  default_backend backend
backend backend
  mode http
  http-reuse safe
  server s1 127.0.0.1:%d
listen l4
  mode tcp
  bind 127.0.0.1:%d
  server s1 127.0.0.1:%d
""" % (ports["http"], ports["tls"], tls["pem"], backend, ports["tcp"], backend))
    return ["/usr/sbin/haproxy", "-f", conf, "-db"]


def nginx_proxy(workdir, ports, backend, tls):
    conf = os.path.join(workdir, "proxy.conf")
    with open(conf, "w") as f:
        f.write("""daemon off; master_process off; worker_processes 1; pid %s/proxy.pid;
error_log stderr error;
events { worker_connections 4096; }
http { access_log off; client_header_timeout 1s;
  upstream backend { server 127.0.0.1:%d; keepalive 64; }
  server { listen 127.0.0.1:%d backlog=4096; listen 127.0.0.1:%d ssl backlog=4096;
    ssl_certificate %s; ssl_certificate_key %s;
    location / { proxy_pass http://backend; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header Via "1.1 nginx"; } } }
""" % (workdir, backend, ports["http"], ports["tls"], tls["cert"], tls["key"]))
    return ["/usr/sbin/nginx", "-c", conf, "-p", workdir, "-e", "stderr"]


def wrk(url, connections, duration, *headers):
    extra = [arg for header in headers for arg in ("--header", header)]
    out = subprocess.run(["wrk", "--threads", "1", "--connections", str(connections),
                          "--duration", "%ds" % duration, "--latency", *extra, url],
                         capture_output=True, text=True, check=True).stdout
    requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1 / 1e6, "KB": 1 / 1024, "MB": 1, "GB": 1024}[transfer.group(2)]
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    return {"rps": requests, "mbps": float(transfer.group(1)) * scale,
            "p99_ms": float(p99.group(1)) * unit, "errors": errors.group(0) if errors else ""}


def cpu_seconds(pid):
    """User and system CPU the process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def under_flood(port, duration):
    """wrk -c10 keep-alive on the small file while 1,000 connections that never send a
    byte are open; then how many of them the proxy has closed."""
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
    try:
        result = wrk("http://127.0.0.1:%d/small.html" % port, 10, duration)
        closed = 0
        for s in silent:
            s.settimeout(0.01)
            try:
                while s.recv(4096):  # HAProxy answers 408 before it closes.
                    pass
                closed += 1
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass
        result["closed"] = closed
        return result
    finally:
        for s in silent:
            s.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--l7-only", action="store_true",
                        help="only L7 requests/s and CPU per request")
    args = parser.parse_args()
    for tool in ("wrk", "/usr/sbin/nginx", "/usr/sbin/haproxy"):
        if not shutil.which(tool):
            sys.exit("bench/gateway.py: %s is missing (scripts/setup installs it)" % tool)
    workdir = tempfile.mkdtemp(prefix="trellis-bench-gateway-")
    log = open(os.path.join(workdir, "log"), "w")
    backend = free_port()
    tls = certificate(workdir)
    processes = [start(nginx_backend(workdir, backend), log)]
    try:
        wait_port(backend)
        proxies = {"trellis": trellis_proxy, "haproxy": haproxy_proxy, "nginx": nginx_proxy}
        results = {name: [] for name in proxies}
        for round_index in range(args.rounds):
            # Each round starts with another proxy, so that none always runs first.
            names = list(proxies)
            names = names[round_index % len(names):] + names[:round_index % len(names)]
            for name in names:
                make = proxies[name]
                ports = {"http": free_port(), "tcp": free_port(), "tls": free_port()}
                proxy = start(make(workdir, ports, backend, tls), log)
                try:
                    wait_port(ports["http"])
                    small = "http://127.0.0.1:%d/small.html" % ports["http"]
                    wrk(small, args.connections, 2)  # Warm up.
                    used = cpu_seconds(proxy.pid)
                    backend_used = cpu_seconds(processes[0].pid)
                    l7 = wrk(small, args.connections, args.duration)
                    requests = l7["rps"] * args.duration
                    l7["cpu_us"] = (cpu_seconds(proxy.pid) - used) * 1e6 / requests
                    l7["backend_cpu_us"] = (cpu_seconds(processes[0].pid) - backend_used) * 1e6 / requests
                    if args.l7_only:
                        results[name].append({"l7": l7})
                        print("round %d %s: %.0f req/s p99 %.2f ms cpu %.1f us/req (backend's "
                              "%.1f)%s" % (round_index + 1, name, l7["rps"], l7["p99_ms"],
                                           l7["cpu_us"], l7["backend_cpu_us"],
                                           " (%s)" % l7["errors"] if l7["errors"] else ""),
                              flush=True)
                        continue
                    l4 = None
                    if name != "nginx":
                        wait_port(ports["tcp"])
                        l4 = wrk("http://127.0.0.1:%d/big.bin" % ports["tcp"], 4, args.duration)
                    wait_port(ports["tls"])
                    handshakes = wrk("https://127.0.0.1:%d/small.html" % ports["tls"],
                                     args.connections, args.duration, "Connection: close")
                    flood = under_flood(ports["http"], args.duration)
                    results[name].append({"l7": l7, "l4": l4, "tls": handshakes, "flood": flood})
                    print("round %d %s: %.0f req/s p99 %.2f ms cpu %.1f us/req%s, TLS %.0f "
                          "handshakes/s, flood p99 %.2f ms (%d of 1000 closed)%s" % (
                              round_index + 1, name, l7["rps"], l7["p99_ms"], l7["cpu_us"],
                              ", L4 %.0f MB/s" % l4["mbps"] if l4 else "", handshakes["rps"],
                              flood["p99_ms"], flood["closed"],
                              " (%s)" % l7["errors"] if l7["errors"] else ""), flush=True)
                finally:
                    proxy.terminate()
                    proxy.wait()
        def median(name, key, layer="l7"):
            values = [r[layer][key] for r in results[name] if r.get(layer)]
            return statistics.median(values) if values else None
        if args.l7_only:
            print("Gateway L7, one worker each, wrk -t1 -c%d, %d s, medians of %d rounds:" % (
                args.connections, args.duration, args.rounds))
            for name in proxies:
                print("  %-8s %8.0f req/s  p99 %6.2f ms  cpu %5.1f us/req (backend's %5.1f)" % (
                    name, median(name, "rps"), median(name, "p99_ms"), median(name, "cpu_us"),
                    median(name, "backend_cpu_us")))
            for other in ("haproxy", "nginx"):
                print("  trellis / %s: %.2f" % (other, median("trellis", "rps") /
                                                 median(other, "rps")))
            return
        print("Gateway, one worker each, wrk -t1 -c%d, %d s, medians of %d rounds:" % (
            args.connections, args.duration, args.rounds))
        for name in proxies:
            l4 = median(name, "mbps", "l4")
            print("  %-8s L7 %8.0f req/s  p99 %6.2f ms  cpu %5.1f us/req (backend's %5.1f)   L4 %s   "
                  "TLS %6.0f handshakes/s   flood p99 %6.2f ms" % (
                      name, median(name, "rps"), median(name, "p99_ms"), median(name, "cpu_us"),
                      median(name, "backend_cpu_us"),
                      "%.0f MB/s" % l4 if l4 else "-", median(name, "rps", "tls"),
                      median(name, "p99_ms", "flood")))
        for other in ("haproxy", "nginx"):
            print("  trellis / %s: L7 %.2f, TLS %.2f" % (
                other, median("trellis", "rps") / median(other, "rps"),
                median("trellis", "rps", "tls") / median(other, "rps", "tls")), end="")
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
