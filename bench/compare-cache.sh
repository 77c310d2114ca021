#!/usr/bin/env bash
# Side-by-side benchmark of `trellis cache` against memcached and of `trellis access`
# against twemproxy (nutcracker) (Debian packages), run by
# `make bench`. Prints markdown tables of medians and ratios for bench/RESULTS.md.
# Usage: bench/compare-cache.sh [--rounds N] [--seconds S] [--quick] [--proxies] [--replication]
#        [--tls]
#        [--calibrate]
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/compare_cache.py --trellis build/bin/trellis "$@"
