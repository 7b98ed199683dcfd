//! Link options for moat's own binaries only (dependencies are unaffected,
//! so this never forces a rebuild of them).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        // Packed relative relocations (DT_RELR, glibc >= 2.36, binutils >=
        // 2.38): the static-PIE binary's million bytes of R_X86_64_RELATIVE
        // entries shrink to a few kilobytes, with address randomisation kept.
        // The image is this one binary; issue 7 sets a 20 MB target.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
