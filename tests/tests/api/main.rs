//! The API over HTTP, in-process on a real port, on both stores.
// Test code: a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod archive_room;
mod archives;
mod audit;
mod auth;
mod checkpoint;
mod clearance;
mod contract;
mod delegations;
mod departments;
mod errors;
mod files;
mod idempotency;
mod imports;
mod ledgers;
mod lending;
mod mail;
mod oidc;
mod online;
mod openapi;
mod org;
mod owasp;
mod owasp_copies;
mod owasp_identity;
mod policies;
mod provisioning;
mod reminders;
mod reports;
mod rollups;
mod round_trips;
mod search;
mod system;
mod users;
mod webhooks;
