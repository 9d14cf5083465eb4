//! Linux parity: replay every corpus capture and compare each frame with
//! what the Linux 6.18 kernel said (the oracle's verdict files), by the
//! rules of `shared/corpus/README.md`: state equal (a fragment consumed by
//! defragmentation, `state: none, stage: defrag`, included); direction equal where
//! the kernel gives one; for frames that are not invalid, TCP and SCTP state equal,
//! ASSURED and SEEN_REPLY alike, timeout within 1 s, and the helper and
//! master of the entry equal where the kernel names them.
//!
//! Captures: the vendored ones in `tests/data/`, and every capture of
//! `../shared/corpus` beside the checkout when it is there.
//!
//! Each capture has one or more verdict files `NAME.VARIANT.jsonl` (the
//! corpus: `linux` with checksum verification on, `linux-nocsum` with
//! `nf_conntrack_checksum=0`; the crafted TCP captures: `default` and one
//! per sysctl they exercise). The replay re-creates the oracle's options
//! from the verdict file's final record.
//!
//! Both storages replay every capture: the fixed table is compared with
//! Linux, and the growable table (`ConnTable::growable`) with the fixed one,
//! output for output.
//!
//! Every frame that needs neither the TCP tracker nor a helper must agree.
//! The remaining disagreements (TCP frames, frames whose verdict depends on
//! a helper) are listed in `tests/data/known-disagreements.txt`, and the
//! test checks that list exactly: a frame that now agrees must be removed
//! from it, a new disagreement fails. `CTRACK_BLESS=1 cargo test --test
//! parity` rewrites the list.

mod corpus;

#[path = "../examples/replay/engine.rs"]
#[allow(dead_code)]
mod engine;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// The list of the default build, and of feature `compact-tcp`, whose TCP
/// tracker keeps less of the past than Linux's (`src/proto/tcp/memo.rs`
/// says what, and which of its verdicts differ): with `ipv4-only` too, it
/// has no room for the retransmission counter's fingerprint, and its own
/// list (of IPv4 frames only, blessed in that build).
#[cfg(not(feature = "compact-tcp"))]
const LIST: &str = "tests/data/known-disagreements.txt";
#[cfg(all(feature = "compact-tcp", not(feature = "ipv4-only")))]
const LIST: &str = "tests/data/known-disagreements-compact-tcp.txt";
#[cfg(all(feature = "compact-tcp", feature = "ipv4-only"))]
const LIST: &str = "tests/data/known-disagreements-compact-tcp-ipv4-only.txt";
#[cfg(not(feature = "compact-tcp"))]
const LIST_HEAD: &str =
    "# Frames on which ctrack disagrees with Linux, all needing the TCP tracker or a helper.\n";
#[cfg(all(feature = "compact-tcp", not(feature = "ipv4-only")))]
const LIST_HEAD: &str = "# Frames on which ctrack built with feature compact-tcp disagrees with Linux: each is a\n\
     # consequence of what its TCP state does not keep (src/proto/tcp/memo.rs lists them):\n\
     # - SYN_RECV in Linux after a SYN it ignored, then what follows: no resynchronisation;\n\
     # - RST frames, and what follows them: no td_maxack and no memory of ignored packets.\n";
#[cfg(all(feature = "compact-tcp", feature = "ipv4-only"))]
const LIST_HEAD: &str = "# Frames on which ctrack built with features compact-tcp and ipv4-only disagrees with\n\
     # Linux (IPv4 frames only: the IPv6 ones are refused): each is a consequence of what its TCP\n\
     # state does not keep (src/proto/tcp/memo.rs lists them):\n\
     # - a timeout of 432000 where Linux has 300 after repeated segments: no retransmission counter;\n\
     # - SYN_RECV in Linux after a SYN it ignored, then what follows: no resynchronisation;\n\
     # - RST frames, and what follows them: no td_maxack and no memory of ignored packets.\n";

use corpus::{captures, load, verdict_files};

fn flags(o: &Value) -> (bool, bool) {
    let st: Vec<&str> =
        o.get("status").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    (st.contains(&"ASSURED"), st.contains(&"SEEN_REPLY"))
}

/// The comparison of `compare.py`; returns what differs.
fn differences(e: &Value, a: Option<&Value>) -> Vec<String> {
    let Some(a) = a else { return vec!["missing".into()] };
    let s = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let mut bad = Vec::new();
    let es = s(e, "state");
    if s(a, "state") != es {
        bad.push(format!("state {:?}!={:?}", s(a, "state"), es));
    }
    if let Some(st) = s(e, "stage")
        && s(a, "stage").as_deref() != Some(&st)
    {
        bad.push(format!("stage {:?}!={st}", s(a, "stage")));
    }
    if let Some(d) = s(e, "dir")
        && s(a, "dir").as_deref() != Some(&d)
    {
        bad.push(format!("dir {:?}!={d}", s(a, "dir")));
    }
    if es.as_deref() != Some("invalid") {
        for k in ["tcp_state", "sctp_state"] {
            if let Some(t) = s(e, k)
                && s(a, k).as_deref() != Some(&t)
            {
                bad.push(format!("{k} {:?}!={t}", s(a, k)));
            }
        }
        // Helper and master where the kernel gives them (issue: helpers).
        for k in ["helper", "master"] {
            if let Some(x) = s(e, k)
                && s(a, k).as_deref() != Some(&x)
            {
                bad.push(format!("{k} {:?}!={x}", s(a, k)));
            }
        }
        if e.get("status").is_some() && flags(a) != flags(e) {
            bad.push(format!("flags {:?}!={:?}", flags(a), flags(e)));
        }
        if let (Some(et), Some(at)) =
            (e.get("timeout").and_then(Value::as_i64), a.get("timeout").and_then(Value::as_i64))
            && (et - at).abs() > 1
        {
            bad.push(format!("timeout {at}!={et}"));
        }
    }
    bad
}

/// Frames the TCP tracker or a helper decides (the disagreements allowed
/// to be listed rather than fixed, for now).
/// Whether the oracle's frame `e` is an IPv6 packet: its summary's first
/// address (`PROTO ADDR[:PORT] > ...`) has more than one colon.
#[cfg(feature = "ipv4-only")]
fn is_ipv6(e: &Value) -> bool {
    let summary = e.get("summary").and_then(Value::as_str).unwrap_or("");
    summary.split_whitespace().nth(1).is_some_and(|a| a.matches(':').count() > 1)
}

fn needs_tcp_or_helper(e: &Value) -> bool {
    let summary = e.get("summary").and_then(Value::as_str).unwrap_or("");
    let status_expected =
        e.get("status").and_then(Value::as_array).is_some_and(|s| s.iter().any(|v| v == "EXPECTED"));
    summary.starts_with("tcp ")
        || e.get("tcp_state").is_some()
        || e.get("helper").is_some()
        || e.get("master").is_some()
        || status_expected
}

#[test]
fn corpus_parity() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut listed_now = BTreeSet::new();
    let mut lines = Vec::new();
    let mut hard = Vec::new();
    let (mut frames, mut agree) = (0usize, 0usize);
    let mut checked_prefixes = BTreeSet::new();
    // Feature `ipv4-only`: the IPv6 frames, each INVALID for that reason
    // alone (checked below), and not compared with Linux.
    #[cfg_attr(not(feature = "ipv4-only"), allow(unused_mut))]
    let mut refused: BTreeSet<String> = BTreeSet::new();
    for (base, p) in &captures() {
        let rel = p.strip_prefix(base).unwrap().with_extension("");
        let name = rel.to_string_lossy().to_string();
        let frames_in = ctrack_capture::read_capture(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (variant, verdict_file) in verdict_files(p) {
            let (expected, args) = load(&verdict_file);
            let mut args = args;
            args.push(p.to_string_lossy().to_string());
            let mut opts = engine::parse_args(&args).unwrap_or_else(|e| panic!("{name} {variant}: {e}"));
            let fixed = engine::replay(&opts, &frames_in);
            // The growable table must say exactly what the fixed one says:
            // every frame, the final listing and the counters.
            opts.growable = true;
            let growable = engine::replay(&opts, &frames_in);
            if let Some(k) = (0..fixed.len().max(growable.len())).find(|&k| fixed.get(k) != growable.get(k)) {
                panic!(
                    "{name} {variant}: the growable table differs: {:?} vs {:?}",
                    fixed.get(k),
                    growable.get(k)
                );
            }
            let actual: BTreeMap<u64, Value> =
                fixed.into_iter().filter_map(|o| Some((o.get("i")?.as_u64()?, o))).collect();
            checked_prefixes.insert(format!("{name} {variant}"));
            for (i, e) in &expected {
                let st = e.get("state").and_then(Value::as_str).unwrap_or("");
                // A fragment held (or dropped) by defragmentation has no
                // verdict: the replay must say so too.
                let defrag = st == "none" && e.get("stage").and_then(Value::as_str) == Some("defrag");
                if !defrag && !matches!(st, "new" | "established" | "related" | "invalid" | "untracked") {
                    continue;
                }
                #[cfg(feature = "ipv4-only")]
                {
                    let not_tracked = ctrack::Reason::FamilyNotTracked.to_string();
                    let a = actual.get(i);
                    let refused_here = a.is_some_and(|a| {
                        a.get("state").and_then(Value::as_str) == Some("invalid")
                            && a.get("reason").and_then(Value::as_str) == Some(not_tracked.as_str())
                    });
                    if is_ipv6(e) && !defrag {
                        if !refused_here {
                            hard.push(format!("{name} {variant} {i}: IPv6 frame not refused: {a:?}"));
                        }
                        refused.insert(format!("{name} {variant} {i}"));
                        continue;
                    }
                    if refused_here {
                        hard.push(format!("{name} {variant} {i}: refused but not IPv6: {e}"));
                    }
                }
                frames += 1;
                let bad = differences(e, actual.get(i));
                if bad.is_empty() {
                    agree += 1;
                    continue;
                }
                let summary = e.get("summary").and_then(Value::as_str).unwrap_or("");
                let id = format!("{name} {variant} {i}");
                if needs_tcp_or_helper(e) {
                    lines.push(format!("{id}  # {} [{summary}]", bad.join("; ")));
                    listed_now.insert(id);
                } else {
                    hard.push(format!("{id}: {} [{summary}]", bad.join("; ")));
                }
            }
        }
    }
    eprintln!(
        "parity: {agree}/{frames} comparable frames agree; {} listed TCP/helper disagreements; {} IPv6 frames refused",
        listed_now.len(),
        refused.len()
    );
    assert!(
        hard.is_empty(),
        "{} frames needing neither TCP nor a helper disagree with Linux:\n{}",
        hard.len(),
        hard.join("\n")
    );

    let list_path = root.join(LIST);
    if std::env::var_os("CTRACK_BLESS").is_some() {
        assert!(
            refused.is_empty() || cfg!(feature = "compact-tcp"),
            "bless the list in a build that tracks IPv6 (not ipv4-only)"
        );
        let mut text = String::from(LIST_HEAD);
        text.push_str(
            "# Checked exactly by tests/parity.rs; regenerate with CTRACK_BLESS=1 cargo test --test parity.\n\
             # capture variant frame  # what differs [frame]\n",
        );
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(&list_path, text).unwrap();
        return;
    }
    let listed: BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        // Only captures present on this machine can be checked.
        .filter(|id| id.rsplit_once(' ').is_some_and(|(prefix, _)| checked_prefixes.contains(prefix)))
        // With `ipv4-only`, the IPv6 frames of the list are refused.
        .filter(|id| !refused.contains(id))
        .collect();
    let fixed: Vec<_> = listed.difference(&listed_now).collect();
    let new: Vec<_> = lines.iter().filter(|l| !listed.contains(l.split("  #").next().unwrap())).collect();
    assert!(
        fixed.is_empty() && new.is_empty(),
        "disagreement list out of date ({LIST}).\nNow agreeing (remove from the list): {fixed:#?}\nNew disagreements: {new:#?}"
    );
}
