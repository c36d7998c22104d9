fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A vendored protoc, so a fresh machine needs nothing installed.
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/agent.proto");
    // Tunnel payloads as `Bytes`: decoded without another copy.
    tonic_prost_build::configure()
        .bytes(".iomesh.agent.v1.TunnelFrame.data")
        .compile_protos(&["proto/agent.proto"], &["proto"])?;
    Ok(())
}
