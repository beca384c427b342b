//! The use cases: each loads what it needs from the stores, asks the domain for the transition,
//! saves, and hands what happened to `events`, in one transaction. A use case never imports
//! another; what two of them share is a store's or an event's.

pub mod archives;
pub mod categories;
pub mod checkouts;
pub mod delegations;
pub mod departments;
pub mod files;
pub mod fonds;
pub mod forms;
pub mod identities;
pub mod locations;
pub mod logins;
pub mod online;
pub mod photos;
pub mod policies;
pub mod provisioning;
pub mod reminders;
pub mod renewals;
pub mod reports;
pub mod requests;
pub mod reservations;
pub mod returns;
pub mod users;
pub mod webhooks;
