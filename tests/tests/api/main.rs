//! The API over HTTP, in-process on a real port, on both stores.
// Test code: a failed unwrap is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod auth;
mod departments;
mod errors;
mod openapi;
mod system;
mod users;
