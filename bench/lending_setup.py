#!/usr/bin/env python3
"""Prepares the lending benchmark through the public API of a running, empty `dangan`.

Usage: lending_setup.py BASE_URL ADMIN_PASSWORD OUT_DIR CYCLE_PAIRS CYCLE_ITEMS CHECKOUT_CLIENTS CHECKOUT_ITEMS

Creates a borrower and an archivist, imports public archives (their chain is one archivist),
then has the borrower ask for them 50 to a request and the archivist approve every request.
Writes, one line "request_id barcode" per approved item:
  cycle-N.txt     items of pair N (both clients of a pair scan the same items, so they collide)
  checkout-N.txt  items of check-out client N
and tokens.txt with the borrower's and the archivist's access tokens.
"""
import concurrent.futures
import json
import os
import sys
import urllib.request

PASSWORD = "bench-user-2026"
PER_REQUEST = 50


def call(base, method, path, token=None, body=None, content_type="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{method} {path} -> {error.code}: {error.read().decode()}")


def login(base, username, password):
    return call(base, "POST", "/api/v1/auth/login", body={"username": username, "password": password})[1]["access_token"]


def main():
    base, admin_password, out = sys.argv[1], sys.argv[2], sys.argv[3]
    pairs, cycle_items, clients, checkout_items = map(int, sys.argv[4:8])
    os.makedirs(out, exist_ok=True)

    admin = login(base, "admin", admin_password)
    department = call(base, "POST", "/api/v1/departments", admin, {"code": "BENCH", "name": "基准测试处"})[1]["id"]
    for username, roles, clearance in (("reader", [], "public"), ("keeper", ["archivist"], "internal")):
        call(base, "POST", "/api/v1/users", admin, {
            "username": username, "display_name": username, "password": PASSWORD,
            "department_id": department, "roles": roles, "clearance": clearance,
        })
    reader, keeper = login(base, "reader", PASSWORD), login(base, "keeper", PASSWORD)

    total = pairs * cycle_items + clients * checkout_items
    rows = ["archive_code,barcode,title,category,classification,medium,location,year"]
    rows += [f"LB-2026-Y-{n:06d},LB{n:08d},借阅基准 loan benchmark {n},文书,public,paper,A-01-{n // 1000:02d},2026" for n in range(total)]
    call(base, "POST", "/api/v1/archives/import", admin, "\r\n".join(rows).encode(), "text/csv")

    archives, cursor = [], None
    while True:
        path = "/api/v1/archives?limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = call(base, "GET", path, admin)[1]
        archives += [(a["id"], a["barcode"]) for a in page["items"] if a["barcode"].startswith("LB")]
        cursor = page["next_cursor"]
        if not cursor:
            break
    archives.sort(key=lambda a: a[1])
    assert len(archives) == total, f"expected {total} archives, found {len(archives)}"

    def approved(chunk):
        body = {"archive_ids": [a[0] for a in chunk], "purpose": "基准测试 benchmark", "loan_type": "take_out", "days": 30}
        request_id = call(base, "POST", "/api/v1/loan-requests", reader, body)[1]["id"]
        status = call(base, "POST", f"/api/v1/loan-requests/{request_id}/approve", keeper, {})[1]["status"]
        assert status == "approved", status
        return [(request_id, barcode) for _, barcode in chunk]

    chunks = [archives[i:i + PER_REQUEST] for i in range(0, total, PER_REQUEST)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        items = [item for chunk in pool.map(approved, chunks) for item in chunk]

    def write(name, part):
        with open(os.path.join(out, name), "w") as f:
            f.writelines(f"{request_id} {barcode}\n" for request_id, barcode in part)

    for n in range(pairs):
        write(f"cycle-{n}.txt", items[n * cycle_items:(n + 1) * cycle_items])
    rest = items[pairs * cycle_items:]
    for n in range(clients):
        write(f"checkout-{n}.txt", rest[n * checkout_items:(n + 1) * checkout_items])
    with open(os.path.join(out, "tokens.txt"), "w") as f:
        f.write(f"{reader}\n{keeper}\n")
    print(f"{len(chunks)} requests approved, {total} items")


if __name__ == "__main__":
    main()
