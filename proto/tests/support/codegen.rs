//! Shared by `examples/regenerate.rs` and the freshness test.

use std::path::Path;

pub(crate) const PROTOS: &[&str] = &["ventros/v1/agent.proto", "ventros/v1/memory.proto"];

pub(crate) fn generate(out_dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fds = protox::compile(PROTOS, [root])?;
    std::fs::create_dir_all(out_dir)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .out_dir(out_dir)
        .compile_fds(fds)?;
    Ok(())
}
