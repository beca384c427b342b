//! The ceiling `bench/lending.sh` measures `GET /api/v1/loans/{id}` against: the same route on
//! actix-web and a diesel r2d2 pool, reading the same row from the same database, with no
//! authentication, authorisation or mapping. Dangan's handler should reach 70 % of its rate.
//!
//!   CEILING_DATABASE_URL=postgres://… CEILING_BIND=127.0.0.1:18092 ceiling

use std::io;

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::{
    pg::PgConnection,
    r2d2::{ConnectionManager, Pool},
    sql_types::{Integer, Nullable, Text},
    sqlite::SqliteConnection,
    QueryableByName, RunQueryDsl,
};
use serde::Serialize;

enum Store {
    Postgres(Pool<ConnectionManager<PgConnection>>),
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
}

#[derive(QueryableByName, Serialize)]
struct LoanRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    request_id: String,
    #[diesel(sql_type = Text)]
    archive_id: String,
    #[diesel(sql_type = Text)]
    borrower_id: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    checked_out_at: String,
    #[diesel(sql_type = Text)]
    due_at: String,
    #[diesel(sql_type = Integer)]
    renewals: i32,
    #[diesel(sql_type = Nullable<Text>)]
    returned_at: Option<String>,
}

const POSTGRES_QUERY: &str = "SELECT id::text AS id, request_id::text AS request_id, \
    archive_id::text AS archive_id, borrower_id::text AS borrower_id, status, \
    checked_out_at::text AS checked_out_at, due_at::text AS due_at, renewals, \
    returned_at::text AS returned_at FROM loans WHERE id = $1::uuid";
const SQLITE_QUERY: &str = "SELECT id, request_id, archive_id, borrower_id, status, \
    checked_out_at, due_at, renewals, returned_at FROM loans WHERE id = ?";

fn read_loan(store: &Store, id: String) -> Result<Option<LoanRow>, String> {
    let rows: Vec<LoanRow> = match store {
        Store::Postgres(pool) => {
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            diesel::sql_query(POSTGRES_QUERY)
                .bind::<Text, _>(id)
                .load(&mut conn)
        }
        Store::Sqlite(pool) => {
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            diesel::sql_query(SQLITE_QUERY)
                .bind::<Text, _>(id)
                .load(&mut conn)
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().next())
}

async fn get_loan(store: web::Data<Store>, id: web::Path<String>) -> HttpResponse {
    let id = id.into_inner();
    match web::block(move || read_loan(&store, id)).await {
        Ok(Ok(Some(row))) => HttpResponse::Ok().json(row),
        Ok(Ok(None)) => HttpResponse::NotFound().finish(),
        Ok(Err(message)) => HttpResponse::InternalServerError().body(message),
        Err(blocking) => HttpResponse::InternalServerError().body(blocking.to_string()),
    }
}

fn build_store(url: &str) -> Result<Store, String> {
    let size = 16;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Pool::builder()
            .max_size(size)
            .build(ConnectionManager::new(url))
            .map(Store::Postgres)
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        Pool::builder()
            .max_size(size)
            .build(ConnectionManager::new(path))
            .map(Store::Sqlite)
    }
    .map_err(|e| format!("cannot open {url}: {e}"))
}

#[actix_web::main]
async fn main() -> io::Result<()> {
    let url = std::env::var("CEILING_DATABASE_URL")
        .map_err(|_| io::Error::other("set CEILING_DATABASE_URL"))?;
    let bind = std::env::var("CEILING_BIND").unwrap_or_else(|_| "127.0.0.1:18092".to_owned());
    let store = web::Data::new(build_store(&url).map_err(io::Error::other)?);
    HttpServer::new(move || {
        App::new()
            .app_data(store.clone())
            .route("/api/v1/loans/{id}", web::get().to(get_loan))
    })
    .bind(bind)?
    .run()
    .await
}
