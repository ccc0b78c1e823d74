//! The committed generated code must be exactly what the `.proto` files produce today.

#[path = "support/codegen.rs"]
mod codegen;

#[test]
fn generated_code_is_fresh() {
    let dir = std::env::temp_dir().join(format!("ventros-proto-{}", std::process::id()));
    codegen::generate(&dir).expect("generate");
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gen");
    for entry in std::fs::read_dir(&dir).expect("generated dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("file name");
        let fresh = std::fs::read_to_string(&path).expect("fresh file");
        let old = std::fs::read_to_string(committed.join(name)).unwrap_or_default();
        assert!(
            fresh == old,
            "src/gen/{} is stale: run `cargo run -p ventros-proto --example regenerate`",
            name.to_string_lossy()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
