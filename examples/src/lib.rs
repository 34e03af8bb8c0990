//! Example programs (echo, axum_hello, hyper_echo, churn, feature_flag) live here as
//! binaries once the runtime and the tokio-compatible sockets exist (issues 4 and 5).
//! Until then this crate is deliberately empty rather than shipping examples that cannot
//! run.
