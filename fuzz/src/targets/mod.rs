//! One module per fuzz target; `world` is the localnet the program, RPC and
//! gRPC targets share the shape of.

pub mod grpc;
pub mod job_spec;
pub mod program;
pub mod rpc;
pub mod scheduler_http;
pub mod world;
