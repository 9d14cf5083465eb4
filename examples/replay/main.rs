//! Replay a capture through a ctrack table and print one JSON line per
//! frame, with the field names of the Linux oracle (`ct_oracle.py`), so
//! that the same scenario runs on the kernel and on ctrack and the two
//! outputs can be compared with `compare.py`.
//!
//! ```text
//! cargo run --release --example replay -- [--helpers LIST|none] [--notrack SPEC]...
//!     [--sysctl NAME=VALUE]... [--honour-gaps MAXSEC] [--events] CAPTURE
//! ```
//!
//! `--sysctl nf_conntrack_acct=1` adds the counters to the final
//! `conntrack -L` lines, `--sysctl nf_conntrack_timestamp=1` their
//! `delta-time`; `--events` gives each frame's object an `events` array:
//! the `conntrack -E` lines (connections and expectations) it caused.
//!
//! The final object holds the listings: `conntrack_L`, `conntrack_L_expect`
//! (the IPv4 expectations, as `conntrack -L expect` lists them by default),
//! `conntrack_L_expect_ipv6` (`-L expect -f ipv6`), `conntrack_L_unconfirmed`
//! and `conntrack_L_dying`, and the counters.
//!
//! Frames are fed ~0.3 ms apart as the oracle injects them; with
//! `--honour-gaps MAXSEC` the capture's timestamps drive the clock, each gap
//! capped at MAXSEC seconds.

mod engine;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = engine::parse_args(&args).and_then(engine::run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::from(2)
        }
    }
}
