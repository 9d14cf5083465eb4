//! Finding the captures and their verdict files, the replay arguments of
//! a verdict file, and the words of a kernel output line without its clock:
//! shared by the tests that compare with Linux.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every capture to replay, with the folder its name is relative to: the
/// vendored ones in `tests/data/`, then those of `../shared/corpus` beside
/// the checkout (when it is there) that are not vendored.
pub fn captures() -> Vec<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("tests/data");
    let shared = root.join("../shared/corpus");
    let mut vendored = Vec::new();
    pcaps(&data, &mut vendored);
    assert!(vendored.len() >= 50, "vendored captures missing from tests/data");
    let names: BTreeSet<PathBuf> =
        vendored.iter().map(|p| p.strip_prefix(&data).unwrap().to_path_buf()).collect();
    let mut others = Vec::new();
    pcaps(&shared, &mut others);
    others.retain(|p| !names.contains(p.strip_prefix(&shared).unwrap()));
    let mut out: Vec<(PathBuf, PathBuf)> = vendored.into_iter().map(|p| (data.clone(), p)).collect();
    out.extend(others.into_iter().map(|p| (shared.clone(), p)));
    out
}

/// Every pcap/pcapng file below `dir`, in path order.
fn pcaps(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            pcaps(&p, out);
        } else if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
            out.push(p);
        }
    }
}

/// The verdict files beside a capture: `NAME.VARIANT.jsonl`, as
/// (variant, path), in order.
pub fn verdict_files(capture: &Path) -> Vec<(String, PathBuf)> {
    let stem = capture.file_stem().unwrap().to_string_lossy().to_string();
    let dir = capture.parent().unwrap();
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().to_string_lossy().to_string();
            let variant = f.strip_prefix(&format!("{stem}."))?.strip_suffix(".jsonl")?.to_string();
            (!variant.contains('.')).then(|| (variant, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The oracle's per-frame verdicts, and the replay arguments that re-create
/// the oracle's options (helpers, sysctls, notrack rules, gaps) from its
/// final record.
pub fn load(path: &Path) -> (BTreeMap<u64, Value>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = BTreeMap::new();
    let mut args = Vec::new();
    for o in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        if o.get("final").is_some() {
            let opts = &o["options"];
            let strings = |v: &Value| -> Vec<String> {
                v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect()
            };
            if let Some(h) = opts["helpers"].as_str() {
                args.extend(["--helpers".to_string(), h.to_string()]);
            }
            for s in strings(&opts["sysctl"]) {
                args.extend(["--sysctl".to_string(), s]);
            }
            for n in strings(&opts["notrack"]) {
                args.extend(["--notrack".to_string(), n]);
            }
            if let Some(g) = opts["honour_gaps"].as_f64() {
                args.extend(["--honour-gaps".to_string(), g.to_string()]);
            }
        } else if let Some(i) = o.get("i").and_then(Value::as_u64) {
            frames.insert(i, o);
        }
    }
    (frames, args)
}

/// The words of a `conntrack -L` or `-E` line with the numbers that
/// depend on the kernel's wall clock (the timeout, word `timeout_at`, and
/// `delta-time`) taken out and returned beside.
// Used by the tests that compare kernel listings, not by every one that
// includes this module.
#[allow(dead_code)]
pub fn clock_free_words(line: &str, timeout_at: usize) -> (Vec<String>, Vec<i64>) {
    let mut words = Vec::new();
    let mut clocks = Vec::new();
    for (k, w) in line.split_whitespace().enumerate() {
        if k == timeout_at && w.parse::<i64>().is_ok() {
            clocks.push(w.parse().unwrap());
            words.push("TIMEOUT".into());
        } else if let Some(d) = w.strip_prefix("delta-time=") {
            clocks.push(d.parse().unwrap());
            words.push("delta-time=".into());
        } else {
            words.push(w.to_string());
        }
    }
    (words, clocks)
}
