//! Bodies that more than one resource shows or takes. A route file keeps its own DTOs; one that a
//! second route file needs lives here, so that no route file imports another.

pub mod archives;
pub mod loans;
pub mod requests;
pub mod users;
