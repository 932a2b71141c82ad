//! Records the version of the compiler that builds the harness, for the machine
//! information of `results.json` (`TESSERA_BENCH_RUSTC`; absent if `rustc -V` fails).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    if let Ok(out) = std::process::Command::new(rustc).arg("-V").output()
        && out.status.success()
    {
        let v = String::from_utf8_lossy(&out.stdout);
        println!("cargo:rustc-env=TESSERA_BENCH_RUSTC={}", v.trim());
    }
}
