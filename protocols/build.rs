//! `cfg(gfni_transpose)`: the build enables what the OT transposes' byte-shuffle kernel
//! needs (x86-64 with AVX-512 F/BW/VBMI and GFNI, e.g. under the workspace's
//! `-C target-cpu=native` on Ice Lake or Zen 4), so that kernel is compiled and used.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gfni_transpose)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |f: &str| features.split(',').any(|x| x == f);
    if arch == "x86_64"
        && ["avx512f", "avx512bw", "avx512vbmi", "gfni"]
            .iter()
            .all(|f| has(f))
    {
        println!("cargo::rustc-cfg=gfni_transpose");
    }
}
