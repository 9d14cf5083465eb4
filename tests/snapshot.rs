//! Snapshot and restore against the corpus: for every capture and verdict
//! file the parity test replays (`tests/parity.rs`), replay the first half
//! through a table, snapshot it, restore the snapshot into a fresh table
//! (same settings; the helpers registered in the reverse order, so that
//! the snapshot's helper names must be re-bound), and replay the rest
//! there. Every frame's output, and the final `conntrack -L` and
//! `conntrack -L expect` listings, must equal those of one table replaying
//! everything. (The listings are compared as sets: the restoring table puts
//! entries in other slots, and listings are in slot order. The counters
//! start again in the new table and are not compared.)

mod corpus;

#[path = "../examples/replay/engine.rs"]
#[allow(dead_code)]
mod engine;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use corpus::{captures, load, verdict_files};

/// The replay arguments of a verdict file (as parity.rs re-creates them).
fn args_of(path: &Path) -> Vec<String> {
    load(path).1
}

fn listing(fin: &Value, key: &str) -> BTreeSet<String> {
    fin[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// Replay `frames` whole and split at `split`; the first difference, if any.
fn compare(opts: &mut engine::Options, frames: &[ctrack_capture::Frame], split: usize) -> Option<String> {
    opts.split_at = None;
    let whole = engine::replay(opts, frames);
    opts.split_at = Some(split);
    let halves = engine::replay(opts, frames);
    assert_eq!(whole.len(), halves.len());
    let (wf, hf) = (whole.last().unwrap(), halves.last().unwrap());
    for (w, h) in whole.iter().zip(&halves).take(whole.len() - 1) {
        if w != h {
            return Some(format!("split at {split}: frame {w} != {h}"));
        }
    }
    for key in ["conntrack_L", "conntrack_L_expect", "conntrack_L_expect_ipv6"] {
        let (a, b) = (listing(wf, key), listing(hf, key));
        if a != b {
            return Some(format!(
                "split at {split}: {key} differs:\n  whole only: {:?}\n  split only: {:?}",
                a.difference(&b).collect::<Vec<_>>(),
                b.difference(&a).collect::<Vec<_>>()
            ));
        }
    }
    None
}

#[test]
fn restored_table_continues_every_capture() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for (_, p) in captures() {
        let frames = ctrack_capture::read_capture(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        for (_, vf) in verdict_files(&p) {
            let mut args = args_of(&vf);
            args.push(p.to_string_lossy().to_string());
            let mut opts = engine::parse_args(&args).unwrap();
            // The half, and (less often) a quarter and three quarters in.
            let mut splits = vec![frames.len() / 2];
            if runs % 3 == 0 {
                splits.extend([frames.len() / 4, frames.len() * 3 / 4]);
            }
            // Every fourth replay on growable tables.
            opts.growable = runs % 4 == 1;
            runs += 1;
            for split in splits {
                if let Some(d) = compare(&mut opts, &frames, split) {
                    failures.push(format!("{}: {d}", vf.display()));
                }
            }
        }
    }
    eprintln!("snapshot: {runs} replays split");
    assert!(failures.is_empty(), "{} of {runs} differ:\n{}", failures.len(), failures.join("\n"));
}
