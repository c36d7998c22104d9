//! iomesh-web against a real Postgres (one database per test), served over a
//! socket: the search API and the scores, the pages, the Solana Actions
//! against a localnet, the job relay to a scheduler, the pages in a real
//! browser with a wallet; and the TypeScript client driving the program.

mod actions;
mod browser;
mod fixtures;
mod jobs;
mod pages;
mod search;
mod typescript;
