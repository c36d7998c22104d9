//! The parts of the wallet CLI that the demo reuses: how results print
//! (tables or stable JSON), the scheduler's renter API client, and the
//! standard output kept clear of a hosted program's log lines.

pub mod output;
pub mod renter_api;
#[cfg(unix)]
pub mod stdio;
