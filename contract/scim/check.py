"""Runs scim2-tester, the SCIM 2.0 compliance checker of the python-scim project, against a
running Dangan: every check it has (discovery, CRUD, PATCH add/replace/remove, attribute
filtering, errors). Prints each result; exits non-zero if any check failed.

Usage: check.py BASE_URL TOKEN   (BASE_URL like http://127.0.0.1:8080/scim/v2)
"""
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main():
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    client = SyncSCIMClient(http)
    results = check_server(client)
    failed = [r for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    for result in results:
        where = f"[{result.resource_type}] " if getattr(result, "resource_type", None) else ""
        print(f"{result.status.name:8} {where}{result.title}: {result.reason or ''}".rstrip())
    counts = {}
    for result in results:
        counts[result.status.name] = counts.get(result.status.name, 0) + 1
    print("scim2-tester:", ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())))
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()
