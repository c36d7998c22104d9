//! The writer and batcher against a real Postgres: each test gets its own
//! database (`#[sqlx::test]`, from `DATABASE_URL`; `scripts/postgres` starts a
//! private server when none runs) with the migrations applied.

mod batcher;
mod common;
mod migrations;
mod writer;
