//! The PubSub WebSocket over a real socket: raw JSON-RPC frames (to check
//! agave's exact shapes and errors) and the stock `PubsubClient`.

mod common;

mod accounts;
mod errors;
mod logs;
mod signatures;
mod slots;
mod slow;
mod stock_client;
