#!/usr/bin/python3
"""Every memcached command against a real `trellis cache`, through pymemcache (a client we
did not write) and, for the meta protocol, raw sockets. Usage: pymemcache_suite.py TRELLIS
[--through-up | --tls]: with --through-up, against `trellis up` (its gateway, access nodes
and cache groups) instead of one cache node; with --tls, over TLS to a node with a
certificate from `trellis ca`, which the clients verify."""
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError, MemcacheServerError

TRELLIS = sys.argv.pop(1) if len(sys.argv) > 1 else "build/bin/trellis"
THROUGH_UP = "--through-up" in sys.argv
if THROUGH_UP:
    sys.argv.remove("--through-up")
TLS = "--tls" in sys.argv
if TLS:
    sys.argv.remove("--tls")
TLS_CONTEXT = None  # The clients' TLS context (trusting the test's CA) with --tls.


def make_certificates(directory):
    """A CA, and the node's certificate for 127.0.0.1: its --tls-cert and --tls-key flags."""
    ca = os.path.join(directory, "ca")
    for command in (["ca", "init", "--data", ca],
                    ["ca", "issue", "cache", "--data", ca, "--ip", "127.0.0.1"]):
        subprocess.run([TRELLIS] + command, check=True, capture_output=True)
    global TLS_CONTEXT
    TLS_CONTEXT = ssl.create_default_context(cafile=os.path.join(ca, "ca.crt"))
    issued = os.path.join(ca, "issued")
    return ["--tls-cert", os.path.join(issued, "cache.crt"),
            "--tls-key", os.path.join(issued, "cache.key")]


def start_cache():
    """The server under test, its log, and its memcached port."""
    log = tempfile.NamedTemporaryFile(prefix="trellis-pymemcache-", suffix=".log")
    if THROUGH_UP:
        data = tempfile.TemporaryDirectory(prefix="trellis-pymemcache-up-")
        command = [TRELLIS, "up", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--mysql", "127.0.0.1:0", "--nbd", "127.0.0.1:0",
                   "--admin", "127.0.0.1:0", "--data", data.name, "--memory", "64"]
        listener = "memcached"
    else:
        data = tempfile.TemporaryDirectory(prefix="trellis-pymemcache-")
        command = [TRELLIS, "cache", "--listen", "127.0.0.1:0", "--threads", "2", "--memory", "64"]
        if TLS:
            command += make_certificates(data.name)
        listener = "cache"
    process = subprocess.Popen(command, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(log.name) as f:
            match = re.search(listener + r" listening on 127\.0\.0\.1:(\d+)\n", f.read())
        if match:
            return process, log, int(match.group(1)), data
        if process.poll() is not None:
            break
        time.sleep(0.01)  # Polling the log for the listening line.
    stop(process)
    with open(log.name) as f:
        raise RuntimeError(f"{command[1]} did not start:\n{f.read()}")


def stop(process):
    """SIGTERM (up stops its children then), SIGKILL if it takes too long."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Raw:
    """A raw protocol connection: send bytes, read until a terminator."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if TLS_CONTEXT:
            self.sock = TLS_CONTEXT.wrap_socket(self.sock, server_hostname="127.0.0.1")

    def call(self, data, until):
        self.sock.sendall(data)
        received = b""
        while not received.endswith(until):
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received

    def close(self):
        self.sock.close()


class PymemcacheSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.process, cls.log, cls.port, cls.data = start_cache()

    @classmethod
    def tearDownClass(cls):
        stop(cls.process)
        cls.log.close()
        if cls.data is not None:
            cls.data.cleanup()

    def setUp(self):
        self.mc = Client(("127.0.0.1", self.port), default_noreply=False, timeout=5,
                         tls_context=TLS_CONTEXT)
        self.mc.flush_all()

    def tearDown(self):
        self.mc.close()

    def test_set_get_and_flags(self):
        self.assertTrue(self.mc.set("a", b"1"))
        self.assertEqual(self.mc.get("a"), b"1")
        self.assertTrue(self.mc.set("f", b"x", flags=42))
        raw = Raw(self.port)
        self.assertEqual(raw.call(b"get f\r\n", b"END\r\n"), b"VALUE f 42 1\r\nx\r\nEND\r\n")
        raw.close()
        self.assertEqual(self.mc.get("missing"), None)
        self.assertEqual(self.mc.get_many(["a", "missing", "f"]), {"a": b"1", "f": b"x"})

    def test_add_replace_append_prepend(self):
        self.assertTrue(self.mc.add("k", b"v"))
        self.assertFalse(self.mc.add("k", b"w"))
        self.assertTrue(self.mc.replace("k", b"r"))
        self.assertFalse(self.mc.replace("absent", b"r"))
        self.assertTrue(self.mc.append("k", b"+"))
        self.assertTrue(self.mc.prepend("k", b"-"))
        self.assertEqual(self.mc.get("k"), b"-r+")
        self.assertFalse(self.mc.append("absent", b"x"))

    def test_gets_and_cas(self):
        self.mc.set("c", b"1")
        value, cas = self.mc.gets("c")
        self.assertEqual(value, b"1")
        self.assertTrue(self.mc.cas("c", b"2", cas))
        self.assertFalse(self.mc.cas("c", b"3", cas))  # EXISTS: the version moved on.
        self.assertIsNone(self.mc.cas("absent", b"3", cas))  # NOT_FOUND.
        self.assertEqual(self.mc.get("c"), b"2")
        _, newer = self.mc.gets("c")
        self.assertNotEqual(cas, newer)

    def test_delete_incr_decr_touch(self):
        self.mc.set("n", b"10")
        self.assertEqual(self.mc.incr("n", 5), 15)
        self.assertEqual(self.mc.decr("n", 20), 0)
        self.assertIsNone(self.mc.incr("absent", 1))
        self.mc.set("big", b"18446744073709551615")
        self.assertEqual(self.mc.incr("big", 2), 1)  # Wraps at 2^64.
        self.mc.set("text", b"abc")
        with self.assertRaises(MemcacheClientError):
            self.mc.incr("text", 1)
        # memcached reads the value as strtoull does and pads a shorter result in place.
        self.mc.set("padded", b"  10")
        self.assertEqual(self.mc.incr("padded", 1), 11)
        self.assertEqual(self.mc.get("padded"), b"11  ")
        self.assertTrue(self.mc.touch("n", 100))
        self.assertFalse(self.mc.touch("absent", 100))
        self.assertTrue(self.mc.delete("n"))
        self.assertFalse(self.mc.delete("n"))

    def test_gat_and_gats(self):
        # This pymemcache has no gat/gats: raw protocol.
        self.mc.set("g", b"v")
        raw = Raw(self.port)
        self.assertEqual(raw.call(b"gat 100 g absent\r\n", b"END\r\n"),
                         b"VALUE g 0 1\r\nv\r\nEND\r\n")
        self.assertRegex(raw.call(b"gats 100 g\r\n", b"END\r\n"),
                         rb"VALUE g 0 1 \d+\r\nv\r\nEND\r\n")
        self.assertEqual(raw.call(b"gat -1 g\r\n", b"END\r\n"), b"VALUE g 0 1\r\nv\r\nEND\r\n")
        self.assertIsNone(self.mc.get("g"))  # gat -1 expired it.
        raw.close()

    def test_exptime_semantics(self):
        now = int(time.time())
        self.mc.set("negative", b"v", expire=-1)
        self.assertIsNone(self.mc.get("negative"))
        self.mc.set("past", b"v", expire=now - 100)  # Absolute unix time, already past.
        self.assertIsNone(self.mc.get("past"))
        self.mc.set("future", b"v", expire=now + 100)
        self.assertEqual(self.mc.get("future"), b"v")
        self.mc.set("relative", b"v", expire=100)
        self.assertEqual(self.mc.get("relative"), b"v")

    def test_noreply_pipeline(self):
        quiet = Client(("127.0.0.1", self.port), default_noreply=True, timeout=5,
                       tls_context=TLS_CONTEXT)
        for i in range(100):
            quiet.set("q%d" % i, str(i).encode())
        quiet.delete("q0")
        quiet.version()  # A reply on the same connection: every quiet command before it ran.
        self.assertEqual(self.mc.get("q99"), b"99")
        self.assertIsNone(self.mc.get("q0"))
        quiet.close()

    def test_flush_all_version_verbosity(self):
        self.mc.set("x", b"1")
        self.assertTrue(self.mc.flush_all())
        self.assertIsNone(self.mc.get("x"))
        self.assertTrue(self.mc.version().startswith(b"1.6"))
        raw = Raw(self.port)
        self.assertEqual(raw.call(b"verbosity 1\r\n", b"\r\n"), b"OK\r\n")
        raw.close()

    @unittest.skipIf(THROUGH_UP, "an access node answers stats with its own figures (as "
                     "mcrouter does); the cache nodes' are on their ports and /metrics")
    def test_stats(self):
        self.mc.set("y", b"1")
        self.mc.get("y")
        self.mc.get("absent")
        stats = self.mc.stats()
        self.assertGreaterEqual(stats[b"get_hits"], 1)
        self.assertGreaterEqual(stats[b"curr_items"], 1)
        self.assertEqual(stats[b"limit_maxbytes"], 64 * 1024 * 1024)
        settings = self.mc.stats("settings")
        self.assertEqual(settings[b"maxbytes"], 64 * 1024 * 1024)
        raw = Raw(self.port)
        self.assertEqual(raw.call(b"stats reset\r\n", b"\r\n"), b"RESET\r\n")
        after = dict(line.split(b" ")[1:3] for line in
                     raw.call(b"stats\r\n", b"END\r\n").split(b"\r\n") if line.startswith(b"STAT"))
        self.assertEqual(after[b"get_hits"], b"0")
        raw.close()

    def test_too_large_value_is_refused_and_connection_survives(self):
        with self.assertRaises(MemcacheServerError):
            self.mc.set("huge", b"v" * (2 << 20))
        self.assertTrue(self.mc.set("after", b"ok"))
        self.assertEqual(self.mc.get("after"), b"ok")

    def test_meta_commands(self):
        raw = Raw(self.port)
        self.assertEqual(raw.call(b"ms m 2 T0 F7\r\nhi\r\n", b"\r\n"), b"HD\r\n")
        self.assertEqual(raw.call(b"mg m v f k s Oab\r\n", b"hi\r\n"),
                         b"VA 2 f7 km s2 Oab\r\nhi\r\n")
        self.assertEqual(raw.call(b"mg absent v Oab k\r\n", b"\r\n"), b"EN Oab kabsent\r\n")
        hit = raw.call(b"mg m c\r\n", b"\r\n")
        cas = re.match(rb"HD c(\d+)\r\n", hit).group(1)
        self.assertEqual(raw.call(b"ms m 1 C" + cas + b"\r\nz\r\n", b"\r\n"), b"HD\r\n")
        self.assertEqual(raw.call(b"ms m 1 C" + cas + b"\r\nz\r\n", b"\r\n"), b"EX\r\n")
        self.assertEqual(raw.call(b"ms m 1 MA\r\n!\r\n", b"\r\n"), b"HD\r\n")
        self.assertEqual(raw.call(b"mg m v\r\n", b"z!\r\n"), b"VA 2\r\nz!\r\n")
        self.assertEqual(raw.call(b"ma cnt N0 J10 v\r\n", b"10\r\n"), b"VA 2\r\n10\r\n")
        self.assertEqual(raw.call(b"ma cnt D5 v\r\n", b"15\r\n"), b"VA 2\r\n15\r\n")
        # The reply has the number; the stored value keeps its length, space-padded.
        self.assertEqual(raw.call(b"ma cnt MD D100 v\r\n", b"\r\n0\r\n"), b"VA 1\r\n0\r\n")
        self.assertEqual(raw.call(b"mg cnt v\r\n", b"\r\n0 \r\n"), b"VA 2\r\n0 \r\n")
        self.assertEqual(raw.call(b"md m q\r\nmn\r\n", b"MN\r\n"), b"MN\r\n")
        self.assertEqual(raw.call(b"md m\r\n", b"\r\n"), b"NF\r\n")
        # base64 keys, vivify and recache win tokens, invalidation.
        self.assertEqual(raw.call(b"ms Ymlu 1 b\r\nx\r\n", b"\r\n"), b"HD\r\n")
        self.assertEqual(raw.call(b"mg Ymlu b k v\r\n", b"x\r\n"), b"VA 1 kYmlu b\r\nx\r\n")
        self.assertEqual(raw.call(b"mg viv N30 v\r\n", b"\r\n\r\n"), b"VA 0 W\r\n\r\n")
        self.assertEqual(raw.call(b"mg viv v\r\n", b"\r\n\r\n"), b"VA 0 Z\r\n\r\n")
        raw.call(b"ms inv 1 T0\r\nv\r\n", b"\r\n")
        self.assertEqual(raw.call(b"md inv I\r\n", b"\r\n"), b"HD\r\n")
        self.assertEqual(raw.call(b"mg inv v\r\n", b"v\r\n"), b"VA 1 X W\r\nv\r\n")
        # A late write (I, lower CAS) over a stale item is stored, and stays stale.
        self.assertEqual(raw.call(b"ms inv 1 I C1\r\nw\r\n", b"\r\n"), b"HD\r\n")
        self.assertEqual(raw.call(b"mg inv v\r\n", b"w\r\n"), b"VA 1 Z X\r\nw\r\n")
        self.assertTrue(raw.call(b"me m2\r\n", b"\r\n").startswith(b"EN"))
        raw.call(b"ms m2 1\r\nx\r\n", b"\r\n")
        self.assertRegex(raw.call(b"me m2\r\n", b"\r\n"),
                         rb"ME m2 exp=-1 la=\d+ cas=\d+ fetch=no cls=1 size=\d+\r\n")
        raw.close()

    def test_quiet_meta_pipeline_returns_only_hits_and_the_noop(self):
        raw = Raw(self.port)
        raw.call(b"ms p1 1 q\r\na\r\nms p3 1 q\r\nc\r\nmn\r\n", b"MN\r\n")
        reply = raw.call(b"mg p1 q v k\r\nmg p2 q v k\r\nmg p3 q v k\r\nmn\r\n", b"MN\r\n")
        self.assertEqual(reply, b"VA 1 kp1\r\na\r\nVA 1 kp3\r\nc\r\nMN\r\n")
        raw.close()

    def test_quit_closes_the_connection(self):
        raw = Raw(self.port)
        self.assertEqual(raw.call(b"quit\r\n", b"never"), b"")
        raw.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
