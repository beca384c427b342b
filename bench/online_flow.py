#!/usr/bin/env python3
"""Electronic files and online loans on a running server: uploads each PDF given, lends the
archive online, then has the borrower fetch marked copies, timing each and sampling the server's
resident memory. Usage: online_flow.py BASE_URL ADMIN_PASSWORD SERVER_PID COPIES PDF...
With KEEP_COPIES=<dir>, the last copy of each PDF is kept there to look at."""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

BASE, PASSWORD, PID, COPIES, PDFS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
API = BASE + "/api/v1"


def call(method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(API + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def login(username, password):
    return call("POST", "/auth/login", body={"username": username, "password": password})["access_token"]


def rss_kib():
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    """The server's peak resident memory while a block runs, sampled every 10 ms."""

    def __enter__(self):
        self.peak, self.running = rss_kib(), True
        self.thread = threading.Thread(target=self.sample)
        self.thread.start()
        return self

    def sample(self):
        while self.running:
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.01)

    def __exit__(self, *_):
        self.running = False
        self.thread.join()


def curl(args, token, keep="/dev/null"):
    """Runs curl, returning (seconds, bytes)."""
    out = subprocess.run(
        ["curl", "-sf", "-o", keep, "-w", "%{time_total} %{size_download} %{size_upload}",
         "-H", "Authorization: Bearer " + token] + args,
        check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) or int(out[2])


admin = login("admin", PASSWORD)
department = call("POST", "/departments", admin, {"code": "BENCH", "name": "Bench"})["id"]
for name, roles in (("keeper", ["archivist"]), ("reader", [])):
    call("POST", "/users", admin, {"username": name, "display_name": name, "password": name + "-pass-2026",
                                   "department_id": department, "roles": roles, "clearance": "secret"})
keeper, reader = login("keeper", "keeper-pass-2026"), login("reader", "reader-pass-2026")
archive = call("POST", "/archives", admin, {
    "archive_code": "BENCH-EL-1", "barcode": "BENCH-EL-1", "title": "bench", "category": "文书",
    "classification": "public", "medium": "electronic", "location": "A-1"})["id"]
files = []
for path in PDFS:
    upload = subprocess.run(
        ["curl", "-sf", "-H", "Authorization: Bearer " + keeper, "-F", f"file=@{path};type=application/pdf",
         "-w", "\n%{time_total}", f"{API}/archives/{archive}/files"],
        check=True, capture_output=True, text=True).stdout.rsplit("\n", 1)
    files.append((path, json.loads(upload[0]), float(upload[1])))
request = call("POST", "/loan-requests", reader, {
    "archive_ids": [archive], "purpose": "bench", "loan_type": "online", "days": 7})
loan = call("POST", f"/loan-requests/{request['id']}/approve", keeper, {})["items"][0]["loan_id"]

print(f"{'file':<28} {'MB':>7} {'pages':>6} {'upload MB/s':>12} {'copy p50 ms':>12} {'copy MB/s':>10} "
      f"{'RSS idle→peak MiB':>18}")
for path, stored, upload_seconds in files:
    size = stored["size_bytes"]
    pages = subprocess.run(["pdfinfo", path], capture_output=True, text=True).stdout
    pages = next((line.split()[-1] for line in pages.splitlines() if line.startswith("Pages:")), "?")
    idle = rss_kib()
    times = []
    with Sampler() as sampler:
        for _ in range(COPIES):
            keep = os.path.join(os.environ.get("KEEP_COPIES", ""), "copy-" + os.path.basename(path)) \
                if os.environ.get("KEEP_COPIES") else "/dev/null"
            seconds, _ = curl([f"{API}/loans/{loan}/files/{stored['id']}"], reader, keep)
            times.append(seconds)
    p50 = statistics.median(times)
    print(f"{path.rsplit('/', 1)[-1]:<28} {size / 1e6:>7.1f} {pages:>6} {size / 1e6 / upload_seconds:>12.0f} "
          f"{p50 * 1000:>12.0f} {size / 1e6 / p50:>10.0f} {idle / 1024:>8.0f} → {sampler.peak / 1024:<6.0f}")
copies = call("GET", f"/loans/{loan}/copies", keeper)["items"]
print(f"copies recorded: {len(copies)}, all digests distinct: {len({c['sha256'] for c in copies}) == len(copies)}")
