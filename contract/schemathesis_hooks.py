"""Hooks for contract/schemathesis.sh: what a generator cannot know about this API."""

import schemathesis

# Answers that are right for schema-valid requests, and that no schema can rule out:
# - `idempotency_key_reused` (422): a valid Idempotency-Key drawn twice for two different bodies
#   is a reuse the contract requires the server to refuse;
# - `precondition_failed` (412): a drawn If-Match is an ETag nobody read, i.e. a stale read.
STATEFUL_REFUSALS = {(422, "idempotency_key_reused"), (412, "precondition_failed")}

# Ids of resources whose creation was a replay (`Idempotent-Replayed: true`): the first request
# with that key and body created them, and a later step may have deleted them since. The replay
# still answers the first response, as the contract requires, so a 404 for such an id is right.
REPLAYED_IDS = set()


@schemathesis.hook
def after_call(context, case, response):
    if response.headers.get("idempotent-replayed") == ["true"] or response.headers.get(
        "idempotent-replayed"
    ) == "true":
        try:
            REPLAYED_IDS.add(str(response.json().get("id")))
        except (ValueError, AttributeError):
            pass


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if response.status_code == 404 and REPLAYED_IDS.intersection(
        str(value) for value in (case.path_parameters or {}).values()
    ):
        return False
    if response.status_code not in {status for status, _ in STATEFUL_REFUSALS}:
        return True
    try:
        code = response.json().get("code")
    except ValueError:
        return True
    return (response.status_code, code) not in STATEFUL_REFUSALS
