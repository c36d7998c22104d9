//! The localnet driven by the stock `solana-client` RpcClient over a real
//! socket; bad input sent with a plain HTTP client.

mod common;

mod accounts_and_program;
mod cluster;
mod errors;
mod tokens;
mod transfers;
