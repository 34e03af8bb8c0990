//! Generates the gRPC code of `proto/echo.proto`. protox compiles the .proto in Rust, so
//! building needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/echo.proto");
    let files = protox::compile(["proto/echo.proto"], ["proto"])?;
    tonic_prost_build::compile_fds(files)?;
    Ok(())
}
