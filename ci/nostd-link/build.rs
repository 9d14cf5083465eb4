//! Link arguments for a freestanding binary: the host gets no C start files,
//! no libc and a static image; the bare-metal targets get `link.x`.

use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").expect("TARGET");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link.x");

    if target.contains("-linux-") {
        // Host (e.g. x86_64-unknown-linux-gnu): `_start` is ours; no C
        // start files, no libc, nothing dynamic. The few C routines that
        // compiled Rust code calls (memcpy & co.) come from `src/mem.rs`,
        // because the Linux `compiler_builtins` leaves them to libc.
        for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie", "-Wl,-e,_start"] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    } else if target.ends_with("-none-elf")
        || target.ends_with("-none-eabi")
        || target.ends_with("-none-eabihf")
    {
        fs::copy("link.x", out.join("link.x")).expect("copy link.x");
        println!("cargo:rustc-link-search={}", out.display());
        println!("cargo:rustc-link-arg-bins=-Tlink.x");
    } else {
        panic!("nostd-link: no link recipe for target {target}");
    }
}
