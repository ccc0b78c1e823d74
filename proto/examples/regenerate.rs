//! Regenerates `src/gen/` from the `.proto` files: `cargo run -p ventros-proto --example regenerate`.
//! Pure Rust (protox): no system `protoc` needed. The `generated_code_is_fresh` test fails when
//! the committed code differs from what this produces.

#[path = "../tests/support/codegen.rs"]
mod codegen;

fn main() {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gen");
    codegen::generate(&out).expect("generate");
    println!("regenerated {}", out.display());
}
