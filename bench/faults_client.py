#!/usr/bin/env python3
"""Desk clients for bench/faults.sh: each of N threads scans its own approved items
(checkout-N.txt from bench/lending_setup.py) with POST /checkouts for SECONDS, the way a desk
client should behave: a 503 is retried with the same Idempotency-Key after its Retry-After.
MODE `scan` only checks out; `cycle` returns each archive (POST /returns) after its check-out.

Usage: faults_client.py BASE_URL ITEMS_DIR TOKEN CLIENTS SECONDS OUT_FILE MODE

Writes one line per loan the clients were told was created (HTTP 201): its id. Prints a JSON
summary: answers by status, 503s without Retry-After, connection failures, and the longest
a scan took from its first try to its final answer.
"""
import collections
import http.client
import json
import sys
import threading
import time
import urllib.parse
import uuid


def main():
    base, items_dir, token, clients, seconds, out, mode = sys.argv[1:8]
    clients, seconds = int(clients), float(seconds)
    target = urllib.parse.urlparse(base)
    statuses = collections.Counter()
    created, lock = [], threading.Lock()
    problems = collections.Counter()
    longest = [0.0]
    deadline = time.monotonic() + seconds

    def client(n):
        items = [line.split() for line in open(f"{items_dir}/checkout-{n}.txt")]
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        for request_id, barcode in items:
            if time.monotonic() > deadline:
                return
            steps = [("/api/v1/checkouts", {"request_id": request_id, "barcode": barcode})]
            if mode == "cycle":
                steps.append(("/api/v1/returns", {"barcode": barcode, "condition": "intact"}))
            for path, body in steps:
                connection, reply, payload, took = call(connection, path, json.dumps(body))
                with lock:
                    longest[0] = max(longest[0], took)
                    if path.endswith("checkouts") and reply.status == 201:
                        created.append(json.loads(payload)["id"])

    def call(connection, path, body):
        key = str(uuid.uuid4())
        first_try = time.monotonic()
        while True:
            try:
                connection.request("POST", path, body, {
                    "Authorization": "Bearer " + token,
                    "Content-Type": "application/json",
                    "Idempotency-Key": key,
                })
                reply = connection.getresponse()
                payload = reply.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    problems["connection_failed"] += 1
                connection.close()
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                time.sleep(0.5)
                continue
            with lock:
                statuses[f"{path.rsplit('/', 1)[1]} {reply.status}"] += 1
            if reply.status == 503:
                retry_after = reply.getheader("Retry-After")
                if retry_after is None:
                    with lock:
                        problems["503_without_retry_after"] += 1
                time.sleep(float(retry_after or 1))
                continue
            return connection, reply, payload, time.monotonic() - first_try

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(out, "w") as f:
        f.writelines(f"{loan_id}\n" for loan_id in created)
    print(json.dumps({
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "problems": dict(problems),
        "created": len(created),
        "longest_scan_s": round(longest[0], 2),
    }))


if __name__ == "__main__":
    main()
