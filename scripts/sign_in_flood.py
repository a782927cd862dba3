#!/usr/bin/env python3
"""Sends N sign-in attempts with a wrong password from this one address to BASE, over
CONCURRENCY connections, spread evenly over SECONDS (0: as fast as they go), and prints how
they were answered and how fast.

    scripts/sign_in_flood.py BASE N [CONCURRENCY] [SECONDS]

Used by `scripts/bench.sh signin-flood`; standard library only.
"""
import collections
import http.client
import sys
import threading
import time
import urllib.parse


def main() -> None:
    base, n = sys.argv[1], int(sys.argv[2])
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    url = urllib.parse.urlsplit(base)
    body = "email=victim%40studio.test&password=not-the-password"
    headers = {
        "Origin": base,
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()
    left = [n]
    start = time.monotonic()

    def worker() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        while True:
            with lock:
                if left[0] == 0:
                    break
                left[0] -= 1
                index = n - left[0] - 1
            if seconds > 0:
                # Attempt `index` is due at its even share of the time.
                wait = start + index * seconds / n - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            try:
                conn.request("POST", "/api/auth/sign_in", body=body, headers=headers)
                res = conn.getresponse()
                res.read()
                status = res.status
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                status = "error"
            with lock:
                counts[status] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str))
    print(f"sign-in flood: {n} attempts in {took:.1f} s ({n / took:.0f}/s); {answers}")


if __name__ == "__main__":
    main()
