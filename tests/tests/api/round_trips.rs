//! How often a check-out and a return go to PostgreSQL and back, read off the wire between the
//! app and the server (`dangan_tests::pgwire`): each round trip is a wait for the database that
//! every desk's scan pays, whatever the machine. Issue 30 aims at 6 each.

use dangan_tests::{
    config_for,
    pgwire::{Traffic, WireTap},
    TestApp, TestStore,
};
use serde_json::{json, Value};

use crate::org::{barcode, org_in, Org};

/// Round trips of one check-out and one return today; lower them as the path gets shorter.
const CHECK_OUT_AT_MOST: usize = 14;
const RETURN_AT_MOST: usize = 17;

fn approved(org: &Org, code: &str) -> Value {
    let id = org.archive(code, "internal");
    let request = org.request("borrower", &[&id], "take_out", 7);
    org.approve_all(request)
}

#[test]
fn a_check_out_and_a_return_each_go_to_postgresql_a_few_times() {
    let Some(store) = TestStore::postgres() else {
        eprintln!("skipped: DANGAN_TEST_POSTGRES_URL is not set");
        return;
    };
    let upstream = store.url.split_once("://").unwrap().1;
    let host = upstream.rsplit_once('@').map_or(upstream, |(_, h)| h);
    let host = host.split_once('/').unwrap().0;
    let tap = WireTap::start(host.parse().expect("host:port of the test's PostgreSQL"));
    let mut config = config_for(&store);
    config.database_url = tap.url_for(&store.url);
    // One connection: every statement of the measured requests is prepared on it beforehand.
    config.pool_size = 1;
    let org = org_in(TestApp::start_configured(store, config, |_| {}));
    let archivist = org.token("archivist");
    let desk = |path: &str, body: Value| {
        let reply = org.app.client.post(path, Some(&archivist), &body);
        assert!(reply.status < 300, "{} {}", reply.status, reply.body);
    };
    let scan = |request: &Value, code: &str| {
        desk(
            "/api/v1/checkouts",
            json!({"request_id": request["id"], "barcode": barcode(code)}),
        );
    };
    let back = |code: &str| {
        desk(
            "/api/v1/returns",
            json!({"barcode": barcode(code), "condition": "intact"}),
        );
    };

    // The same path once before, so that what is measured is the path, not preparing it.
    let warm = approved(&org, "WS-WARM");
    scan(&warm, "WS-WARM");
    back("WS-WARM");

    let request = approved(&org, "WS-1");
    let before = tap.traffic();
    scan(&request, "WS-1");
    let check_out = tap.since(before);
    let check_out_statements = tap.statements_since(before).join("\n  ");
    let before = tap.traffic();
    back("WS-1");
    let giving_back = tap.since(before);
    let return_statements = tap.statements_since(before).join("\n  ");
    // r2d2 checks a connection that sat idle with `SELECT 1` when it is taken from the pool:
    // under a loaded machine it may, or may not, before either request. That is the pool's
    // round trip, not the path's.
    let pings = |statements: &str| {
        statements
            .split("\n  ")
            .filter(|s| *s == "SELECT 1")
            .count()
    };
    let check_out = Traffic {
        round_trips: check_out.round_trips - pings(&check_out_statements),
        ..check_out
    };
    let giving_back = Traffic {
        round_trips: giving_back.round_trips - pings(&return_statements),
        ..giving_back
    };
    eprintln!("check-out: {check_out:?}\n  {check_out_statements}");
    eprintln!("return: {giving_back:?}\n  {return_statements}");

    assert!(
        check_out.round_trips <= CHECK_OUT_AT_MOST,
        "check-out: {check_out:?}\n  {check_out_statements}"
    );
    assert!(
        giving_back.round_trips <= RETURN_AT_MOST,
        "return: {giving_back:?}\n  {return_statements}"
    );
    assert!(check_out.round_trips > 0, "the tap sees the app's traffic");
}
