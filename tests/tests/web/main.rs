//! iomesh-web against a real Postgres (one database per test), served over a
//! socket: the search API and the scores, the pages, and the Solana Actions
//! against a localnet.

mod actions;
mod fixtures;
mod pages;
mod search;
mod typescript;
