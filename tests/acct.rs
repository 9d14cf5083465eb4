//! Accounting against the kernel: the final `conntrack -L` of the replay
//! tool with `nf_conntrack_acct=1` equals what Linux 6.18 listed for the
//! same captures: every capture of `tests/data`, vendored and crafted
//! (`tests/data/acct/GROUP/NAME.linux-acct.jsonl`, made by
//! `tests/data/acct/record.py`: the oracle with each capture's own options
//! and `--sysctl nf_conntrack_acct=1`).
//!
//! The oracle always turns `nf_conntrack_timestamp` on, so its lines carry
//! `delta-time`; the replay gets the same setting. Lines are compared as
//! sets (the kernel lists in hash order), with the two numbers that depend
//! on the kernel's wall clock (the timeout, `delta-time`) allowed to differ
//! by one second; everything else (packets, bytes, states, flags, mark,
//! helper, `use=`) must be equal. With `--events`, the replay's events are
//! checked too: each listed entry had a NEW event, and its tuple's last
//! event is not a DESTROY.

#[allow(dead_code)]
mod corpus;

#[path = "../examples/replay/engine.rs"]
#[allow(dead_code)]
mod engine;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The verdict files of `tests/data/acct`, with their captures.
fn cases() -> Vec<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut out = Vec::new();
    let mut dirs = vec![root.join("acct")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if let Some(name) =
                p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".linux-acct.jsonl"))
            {
                let rel = p.parent().unwrap().strip_prefix(root.join("acct")).unwrap();
                // A vendored capture, else one of ../shared/corpus.
                let shared = root.join("../../../shared/corpus");
                let capture = [root.join(rel), shared.join(rel)]
                    .into_iter()
                    .flat_map(|d| ["pcap", "pcapng"].map(|x| d.join(format!("{name}.{x}"))))
                    .find(|c| c.exists())
                    .unwrap_or_else(|| panic!("no capture for {}", p.display()));
                out.push((p.clone(), capture));
            }
        }
    }
    out.sort();
    out
}

/// A listing line's words, its timeout (the third word) and `delta-time`
/// taken out.
fn split(line: &str) -> (Vec<String>, Vec<i64>) {
    corpus::clock_free_words(line, 2)
}

fn listing(v: &Value) -> Vec<String> {
    let mut l: Vec<String> = v["conntrack_L"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    l.sort_by_key(|l| split(l).0);
    l
}

#[test]
fn acct_listing_equals_the_kernel() {
    let cases = cases();
    assert!(cases.len() >= 6, "kernel outputs missing from tests/data/acct");
    let mut lines = 0;
    for (verdicts, capture) in cases {
        let name = capture.display().to_string();
        let (_, mut args) = corpus::load(&verdicts);
        assert!(args.iter().any(|a| a == "nf_conntrack_acct=1"), "{name}: made without acct");
        args.extend(["--sysctl".into(), "nf_conntrack_timestamp=1".into(), "--events".into()]);
        args.push(capture.to_string_lossy().to_string());
        let opts = engine::parse_args(&args).unwrap_or_else(|e| panic!("{name}: {e}"));
        let frames = ctrack_capture::read_capture(&capture).unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = engine::replay(&opts, &frames);
        let text = std::fs::read_to_string(&verdicts).unwrap();
        let kernel = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|o| o.get("final").is_some());
        let want = listing(&kernel.unwrap());
        let got = listing(out.last().unwrap());
        assert_eq!(got.len(), want.len(), "{name}:\n{got:#?}\n{want:#?}");
        for (g, w) in got.iter().zip(&want) {
            let ((gw, gc), (ww, wc)) = (split(g), split(w));
            assert_eq!(gw, ww, "{name}:\n ctrack {g}\n linux  {w}");
            assert!(gc.iter().zip(&wc).all(|(a, b)| (a - b).abs() <= 1), "{name}:\n ctrack {g}\n linux  {w}");
            assert!(g.contains(" packets="), "{g}");
            lines += 1;
        }
        // Every listed entry had its NEW event, and none its DESTROY.
        let events: Vec<String> = out
            .iter()
            .filter_map(|o| o.get("events"))
            .flat_map(|e| e.as_array().unwrap().iter().filter_map(Value::as_str).map(str::to_string))
            .collect();
        for g in &got {
            // The original tuple's words: up to the reply tuple's `src=`
            // (or the counters of a protocol without ports).
            let orig: Vec<&str> = g
                .split_whitespace()
                .filter(|w| w.contains('='))
                .enumerate()
                .take_while(|&(k, w)| !w.starts_with("packets=") && (k == 0 || !w.starts_with("src=")))
                .map(|(_, w)| w)
                .collect();
            let orig = format!(" {} ", orig.join(" "));
            // Connection events only (an expectation's names its master).
            let mine: Vec<&String> =
                events.iter().filter(|e| !e.contains(" proto=") && e.contains(&orig)).collect();
            assert!(mine.iter().any(|e| e.starts_with("    [NEW]")), "{name}: {g}\n{events:#?}");
            assert!(!mine.last().unwrap().starts_with("[DESTROY]"), "{name}: {g}\n{events:#?}");
        }
    }
    assert!(lines >= 8, "{lines} lines compared");
}
