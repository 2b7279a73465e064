"""Lab 11's load: a steady stream of job submissions to the jobs API, one log line per request.

Usage: load.py URL LOG [INTERVAL_SECONDS] [MAX_SECONDS] [MAX_REQUESTS]

Each line: `<unix time> ok <status>` or `<unix time> FAIL <status or error>`. Bounded in time and
in count (defaults: every 0.1 s, 30 minutes, 18,000 requests), so it stops by itself.
"""

import json
import sys
import time
import urllib.error
import urllib.request


def main():
    url, log = sys.argv[1], sys.argv[2]
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    max_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 1800
    max_requests = int(sys.argv[5]) if len(sys.argv) > 5 else 18000
    start = time.monotonic()
    with open(log, "a", buffering=1) as out:
        for i in range(max_requests):
            if time.monotonic() - start > max_seconds:
                break
            body = json.dumps({"kind": "hash", "payload": f"load request {i}"}).encode()
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    result = f"ok {resp.status}" if resp.status == 201 else f"FAIL {resp.status}"
            except urllib.error.HTTPError as e:
                result = f"FAIL {e.code} {e.read(200).decode(errors='replace')}"
            except OSError as e:
                result = f"FAIL {e}"
            out.write(f"{time.time():.3f} {' '.join(result.split())}\n")
            time.sleep(interval)
        out.write(f"{time.time():.3f} STOP after {i + 1} requests\n")


if __name__ == "__main__":
    main()
