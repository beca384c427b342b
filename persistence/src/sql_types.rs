//! `DbUuid`: one SQL type for ids on both stores — native `uuid` on PostgreSQL, TEXT on SQLite —
//! so a single `schema.rs` serves both backends of the multi-connection. `TsVector`: PostgreSQL's
//! full-text vector, written by the catalogue's bulk import.

use std::{collections::BTreeMap, io::Write};

use diesel::{
    backend::Backend,
    deserialize::FromSqlRow,
    deserialize::{self, FromSql},
    pg::Pg,
    serialize::{self, IsNull, Output, ToSql},
    sql_types::{HasSqlType, Text},
    sqlite::Sqlite,
    AsExpression, SqlType,
};
use uuid::Uuid;

use crate::db::MultiBackend;

#[derive(Debug, Clone, Copy, Default, diesel::query_builder::QueryId, SqlType)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct DbUuid;

/// A UUID as the store reads and writes it. Rows use it; everything outside this crate sees
/// plain `Uuid` (the orphan rule forbids binding the foreign type to a local SQL type directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = DbUuid)]
pub struct DbId(pub Uuid);

impl From<Uuid> for DbId {
    fn from(id: Uuid) -> Self {
        DbId(id)
    }
}

impl From<DbId> for Uuid {
    fn from(id: DbId) -> Self {
        id.0
    }
}

impl ToSql<DbUuid, Pg> for DbId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Uuid as ToSql<diesel::sql_types::Uuid, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<DbUuid, Pg> for DbId {
    fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <Uuid as FromSql<diesel::sql_types::Uuid, Pg>>::from_sql(bytes).map(DbId)
    }
}

impl ToSql<DbUuid, Sqlite> for DbId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}

impl FromSql<DbUuid, Sqlite> for DbId {
    fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(bytes)?;
        Ok(DbId(Uuid::parse_str(&text)?))
    }
}

impl HasSqlType<DbUuid> for MultiBackend {
    fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        MultiBackend::lookup_sql_type::<DbUuid>(lookup)
    }
}

impl FromSql<DbUuid, MultiBackend> for DbId {
    fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        bytes.from_sql::<DbId, DbUuid>()
    }
}

impl ToSql<DbUuid, MultiBackend> for DbId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((DbUuid, self));
        Ok(IsNull::No)
    }
}

#[derive(Debug, Clone, Copy, Default, diesel::query_builder::QueryId, SqlType)]
#[diesel(postgres_type(oid = 3614, array_oid = 3643))]
pub struct TsVector;

/// An archive's search tokens (`search_text`, space-separated) as PostgreSQL's `tsvector`, built
/// exactly as the SQL function `archive_search_vector` (migration 000010) builds it, so a vector
/// is the same whether the import wrote it or the store did: each token is a lexeme at its
/// 1-based position; PostgreSQL counts positions past 16,383 as 16,383, keeps at most 256 per
/// lexeme and refuses lexemes over 2,047 bytes, which are left out.
#[derive(Debug, Clone, AsExpression)]
#[diesel(sql_type = TsVector)]
pub struct SearchVector<'a>(pub &'a str);

const LAST_POSITION: u16 = 16_383;
const POSITIONS_PER_LEXEME: usize = 256;
const LEXEME_BYTES: usize = 2_047;

impl<'a> SearchVector<'a> {
    /// Lexemes in PostgreSQL's order (bytewise, as `BTreeMap<&str, _>` orders them) with
    /// their positions, ascending.
    fn lexemes(&self) -> BTreeMap<&'a str, Vec<u16>> {
        let mut lexemes: BTreeMap<&'a str, Vec<u16>> = BTreeMap::new();
        for (index, token) in self.0.split(' ').enumerate() {
            if token.is_empty() || token.len() > LEXEME_BYTES {
                continue;
            }
            let position = u16::try_from(index + 1).map_or(LAST_POSITION, |p| p.min(LAST_POSITION));
            let positions = lexemes.entry(token).or_default();
            if positions.len() < POSITIONS_PER_LEXEME && positions.last() != Some(&position) {
                positions.push(position);
            }
        }
        lexemes
    }
}

/// The binary form `tsvector_recv` reads: the lexeme count, then each lexeme NUL-terminated with
/// its position count and positions (weight bits zero).
impl ToSql<TsVector, Pg> for SearchVector<'_> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let lexemes = self.lexemes();
        out.write_all(&i32::try_from(lexemes.len())?.to_be_bytes())?;
        for (lexeme, positions) in lexemes {
            out.write_all(lexeme.as_bytes())?;
            out.write_all(&[0])?;
            out.write_all(&u16::try_from(positions.len())?.to_be_bytes())?;
            for position in positions {
                out.write_all(&position.to_be_bytes())?;
            }
        }
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexemes_keep_their_positions_in_postgresql_order() {
        let vector = SearchVector("合同 ab 合同 a  b");
        let lexemes: Vec<_> = vector.lexemes().into_iter().collect();
        assert_eq!(
            lexemes,
            [
                ("a", vec![4]),
                ("ab", vec![2]),
                ("b", vec![6]),
                ("合同", vec![1, 3])
            ]
        );
    }

    #[test]
    fn positions_stop_where_postgresql_stops_them() {
        let text = format!("{} y", vec!["x"; 20_000].join(" "));
        let lexemes = SearchVector(&text).lexemes();
        assert_eq!(lexemes["x"].len(), 256);
        assert_eq!(lexemes["x"][255], 256);
        assert_eq!(lexemes["y"], [LAST_POSITION]);
        let too_long = format!("{} z", "é".repeat(1_024));
        let lexemes = SearchVector(&too_long).lexemes();
        assert_eq!(lexemes.into_iter().collect::<Vec<_>>(), [("z", vec![2])]);
    }
}
