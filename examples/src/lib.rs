//! Code shared by the example programs and their tests.

pub mod grpc;
