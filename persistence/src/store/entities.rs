//! What a recorded entity (an archive, a loan, a loan request) is about as it stands now: the
//! classification that decides who may read anything derived from it — an audit event's data,
//! a notification's text.

use std::collections::HashMap;

use dangan_domain::Classification;
use diesel::prelude::*;
use uuid::Uuid;

use crate::{
    schema::{archives, loans, request_items},
    sql_types::DbId,
    Conn, PersistenceError,
};

/// An entity as events and notices name it: its type and id.
pub(crate) type EntityRef = (String, Uuid);

/// The classification of each named entity that is about archives: an archive's own, a loan's
/// archive's, the highest of a request's archives'. Other entities are absent from the map.
pub(crate) fn classifications(
    conn: &mut Conn,
    entities: &[EntityRef],
) -> Result<HashMap<EntityRef, Classification>, PersistenceError> {
    let ids_of = |entity_type: &str| -> Vec<DbId> {
        entities
            .iter()
            .filter(|(t, _)| t == entity_type)
            .map(|(_, id)| DbId(*id))
            .collect()
    };
    let (archive_ids, loan_ids, request_ids) =
        (ids_of("archive"), ids_of("loan"), ids_of("loan_request"));
    let mut rows: Vec<(&str, DbId, String)> = Vec::new();
    if !archive_ids.is_empty() {
        rows.extend(
            archives::table
                .filter(archives::id.eq_any(archive_ids))
                .select((archives::id, archives::classification))
                .load::<(DbId, String)>(conn)?
                .into_iter()
                .map(|(id, c)| ("archive", id, c)),
        );
    }
    if !loan_ids.is_empty() {
        rows.extend(
            loans::table
                .inner_join(archives::table)
                .filter(loans::id.eq_any(loan_ids))
                .select((loans::id, archives::classification))
                .load::<(DbId, String)>(conn)?
                .into_iter()
                .map(|(id, c)| ("loan", id, c)),
        );
    }
    if !request_ids.is_empty() {
        rows.extend(
            request_items::table
                .inner_join(archives::table)
                .filter(request_items::request_id.eq_any(request_ids))
                .select((request_items::request_id, archives::classification))
                .load::<(DbId, String)>(conn)?
                .into_iter()
                .map(|(id, c)| ("loan_request", id, c)),
        );
    }
    let mut found: HashMap<EntityRef, Classification> = HashMap::new();
    for (entity_type, id, classification) in rows {
        // An unreadable value counts as the highest: withholding is the safe side.
        let classification = classification.parse().unwrap_or(Classification::TopSecret);
        let entry = found
            .entry((entity_type.to_owned(), id.0))
            .or_insert(classification);
        *entry = (*entry).max(classification);
    }
    Ok(found)
}
