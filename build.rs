//! Link-time settings for the `mail-ballot` binary only (not tests or benches).
//!
//! A position-independent executable carries one relocation record per pointer in
//! its read-only data (vtables, tables of `&str`); here 1.5 MB of `.rela.dyn`, all of
//! which the loader reads at every start and keeps mapped. `-z pack-relative-relocs`
//! (DT_RELR, glibc 2.36 and later, Debian 12's) packs them into 25 KB. The daemon's
//! idle RSS went 18.7 → 17.8 MiB (docs/BENCHMARKS.md). A non-PIE build would save
//! another 0.6 MiB, and we give that up: it would lose address-space randomisation
//! of the daemon that reads hostile mail.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
