//! Capture reader for ctrack's replay tool and tests: reads a whole pcap or
//! pcapng file and turns every frame into either the IP packet it carries
//! (link-layer headers removed) or a human-readable reason why it is not
//! injected.
//!
//! ```no_run
//! use ctrack_capture::{FrameContent, read_capture};
//! let frames = read_capture(std::path::Path::new("trace.pcapng"))?;
//! for frame in &frames {
//!     match &frame.content {
//!         FrameContent::Ip(packet) => println!("{}: {} IP bytes", frame.index, packet.len()),
//!         FrameContent::Skipped(why) => println!("{}: skipped, {why}", frame.index),
//!     }
//! }
//! # Ok::<(), ctrack_capture::CaptureError>(())
//! ```
//!
//! Classic pcap is parsed with `pcap-file` (global header and record framing;
//! raw records are used so that `pcap-file`'s own validation of
//! snaplen/orig_len/timestamps does not reject real captures). pcapng blocks
//! are framed and decoded here: `pcap-file` 2's pcapng side cannot be used
//! with std alone (its block parsers are generic over a `byteorder_slice` type
//! it does not re-export), its `PcapNgParser` rejects valid interface blocks
//! (option lists without `opt_endofopt`, a 4-byte `if_tzone`, non-UTF-8
//! strings) and its `EnhancedPacketBlock::timestamp` ignores `if_tsresol`.
//! VLAN tags are walked by ctrack's own
//! [`skip_vlan_tags`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::path::Path;

use ctrack::wire::ethernet::skip_vlan_tags;
use pcap_file::pcap::{PcapHeader, PcapParser};
use pcap_file::{Endianness, PcapError, TsResolution};

/// One frame of a capture, in capture order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// 0-based, counting every frame.
    pub index: usize,
    /// Capture timestamp in nanoseconds since the epoch.
    pub ts_nanos: u64,
    /// What the frame carries.
    pub content: FrameContent,
}

/// What a frame carries: an IP packet, or why it is not injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameContent {
    /// The IPv4 or IPv6 packet (starting at the IP header), link-layer headers removed.
    Ip(Vec<u8>),
    /// Not injected, with a human-readable reason, e.g. "non-IP ethertype 0x0806",
    /// "truncated (caplen 60 < len 74)", "unsupported link type 147".
    Skipped(String),
}

/// Why a capture file could not be read.
#[derive(Debug)]
pub enum CaptureError {
    /// The file could not be read (the message names the path).
    Io(std::io::Error),
    /// The file is not a valid pcap or pcapng capture (or a truncated one).
    Format(String),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io(e) => write!(f, "I/O error: {e}"),
            CaptureError::Format(msg) => write!(f, "bad capture file: {msg}"),
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaptureError::Io(e) => Some(e),
            CaptureError::Format(_) => None,
        }
    }
}

impl From<std::io::Error> for CaptureError {
    fn from(e: std::io::Error) -> Self {
        CaptureError::Io(e)
    }
}

fn format_err(msg: impl Into<String>) -> CaptureError {
    CaptureError::Format(msg.into())
}

/// Read a whole pcap or pcapng file (detected from the magic number).
pub fn read_capture(path: &Path) -> Result<Vec<Frame>, CaptureError> {
    let data = std::fs::read(path)
        .map_err(|e| CaptureError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))))?;
    read_capture_bytes(&data).map_err(|e| match e {
        CaptureError::Format(msg) => CaptureError::Format(format!("{}: {msg}", path.display())),
        other => other,
    })
}

/// Read a whole pcap or pcapng capture held in memory (detected from the
/// magic number).
pub fn read_capture_bytes(data: &[u8]) -> Result<Vec<Frame>, CaptureError> {
    if data.len() < 4 {
        return Err(format_err(format!(
            "not a pcap or pcapng file: only {} byte(s), too short for a magic number",
            data.len()
        )));
    }
    let magic = [data[0], data[1], data[2], data[3]];
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => read_pcapng(data),
        [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x4d, 0x3c, 0xb2, 0xa1] => read_pcap(data),
        [0xa1, 0xb2, 0xcd, 0x34] | [0x34, 0xcd, 0xb2, 0xa1] => {
            Err(format_err("unsupported pcap variant (modified/Kuznetzov pcap, magic 0xa1b2cd34)"))
        }
        _ => Err(format_err(format!(
            "not a pcap or pcapng file (magic number {:02x}{:02x}{:02x}{:02x})",
            magic[0], magic[1], magic[2], magic[3]
        ))),
    }
}

// ---------------------------------------------------------------------------
// Byte helpers (all bounds-checked; never panic)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Big,
    Little,
}

impl Order {
    fn other(self) -> Order {
        match self {
            Order::Big => Order::Little,
            Order::Little => Order::Big,
        }
    }
}

fn rd_u16(b: &[u8], off: usize, order: Order) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    let a = [s[0], s[1]];
    Some(match order {
        Order::Big => u16::from_be_bytes(a),
        Order::Little => u16::from_le_bytes(a),
    })
}

fn rd_u32(b: &[u8], off: usize, order: Order) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    let a = [s[0], s[1], s[2], s[3]];
    Some(match order {
        Order::Big => u32::from_be_bytes(a),
        Order::Little => u32::from_le_bytes(a),
    })
}

fn rd_u64(b: &[u8], off: usize, order: Order) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(match order {
        Order::Big => u64::from_be_bytes(a),
        Order::Little => u64::from_le_bytes(a),
    })
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    rd_u16(b, off, Order::Big)
}

// ---------------------------------------------------------------------------
// Classic pcap (via pcap-file)
// ---------------------------------------------------------------------------

/// libpcap's LT_LINKTYPE(): the upper bits carry FCS information.
fn link_type_of(raw: u32) -> u32 {
    raw & 0xFFFF
}

fn read_pcap(data: &[u8]) -> Result<Vec<Frame>, CaptureError> {
    let (mut rest, parser) = match PcapParser::new(data) {
        Ok(v) => v,
        Err(PcapError::IncompleteBuffer) => {
            return Err(format_err(format!("truncated pcap file header ({} of 24 bytes)", data.len())));
        }
        Err(e) => return Err(format_err(format!("invalid pcap file header: {e}"))),
    };
    let header: PcapHeader = parser.header();
    let linktype = link_type_of(u32::from(header.datalink));
    let order = match header.endianness {
        Endianness::Big => Order::Big,
        Endianness::Little => Order::Little,
    };
    let frac_mult: u64 = match header.ts_resolution {
        TsResolution::MicroSecond => 1_000,
        TsResolution::NanoSecond => 1,
    };

    let mut frames = Vec::new();
    while !rest.is_empty() {
        let index = frames.len();
        let offset = data.len() - rest.len();
        let (next, raw) = match parser.next_raw_packet(rest) {
            Ok(v) => v,
            Err(PcapError::IncompleteBuffer) => {
                let detail = if rest.len() < 16 {
                    format!("record header needs 16 bytes, {} left", rest.len())
                } else {
                    let incl = rd_u32(rest, 8, order).unwrap_or(0);
                    format!("record claims {incl} captured bytes, {} left", rest.len() - 16)
                };
                return Err(format_err(format!(
                    "truncated pcap record at frame {index} (file offset {offset}): {detail}"
                )));
            }
            Err(e) => {
                return Err(format_err(format!(
                    "invalid pcap record at frame {index} (file offset {offset}): {e}"
                )));
            }
        };
        rest = next;
        let ts_nanos = u64::from(raw.ts_sec)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(raw.ts_frac).saturating_mul(frac_mult));
        let content = if raw.incl_len < raw.orig_len {
            FrameContent::Skipped(format!("truncated (caplen {} < len {})", raw.incl_len, raw.orig_len))
        } else {
            decode_link(linktype, &raw.data, order)
        };
        frames.push(Frame { index, ts_nanos, content });
    }
    Ok(frames)
}

// ---------------------------------------------------------------------------
// pcapng (framing and block bodies decoded here)
// ---------------------------------------------------------------------------

const BT_SHB: u32 = 0x0A0D_0D0A;
const BT_IDB: u32 = 0x0000_0001;
const BT_PB: u32 = 0x0000_0002;
const BT_SPB: u32 = 0x0000_0003;
const BT_EPB: u32 = 0x0000_0006;

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Raw if_tsresol byte (default 6 = microseconds).
    tsresol: u8,
    /// if_tsoffset in seconds.
    tsoffset: i64,
}

/// Convert a pcapng timestamp in interface units to nanoseconds since the epoch.
fn ticks_to_nanos(ticks: u64, tsresol: u8, tsoffset: i64) -> u64 {
    let exp = u32::from(tsresol & 0x7F);
    let ns: u128 = if tsresol & 0x80 != 0 {
        // 2^-exp seconds per tick; exp <= 127 so the shift is in range.
        (u128::from(ticks) * 1_000_000_000u128) >> exp
    } else if exp <= 9 {
        u128::from(ticks) * 10u128.pow(9 - exp)
    } else if exp - 9 > 38 {
        0
    } else {
        u128::from(ticks) / 10u128.pow(exp - 9)
    };
    let total = ns as i128 + i128::from(tsoffset) * 1_000_000_000i128;
    total.clamp(0, i128::from(u64::MAX)) as u64
}

fn parse_idb(body: &[u8], order: Order) -> Option<Interface> {
    let linktype = u32::from(rd_u16(body, 0, order)?);
    let snaplen = rd_u32(body, 4, order)?;
    let mut iface = Interface { linktype, snaplen, tsresol: 6, tsoffset: 0 };
    // Options, parsed leniently: stop at opt_endofopt, at the end of the body,
    // or at an option that does not fit.
    let mut off = 8usize;
    while let (Some(code), Some(len)) = (rd_u16(body, off, order), rd_u16(body, off + 2, order)) {
        if code == 0 {
            break;
        }
        let len = usize::from(len);
        let Some(value) = body.get(off + 4..off + 4 + len) else {
            break;
        };
        match code {
            9 if len >= 1 => iface.tsresol = value[0],
            14 if len == 8 => iface.tsoffset = rd_u64(value, 0, order).unwrap_or(0) as i64,
            _ => {}
        }
        off += 4 + ((len + 3) & !3);
    }
    Some(iface)
}

fn read_pcapng(data: &[u8]) -> Result<Vec<Frame>, CaptureError> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut order = Order::Little;
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut last_ts: u64 = 0;
    let mut pos = 0usize;
    let mut seen_shb = false;

    while pos < data.len() {
        let rest = &data[pos..];
        let index = frames.len();
        if rest.len() < 12 {
            return Err(format_err(format!(
                "truncated pcapng block at frame {index} (file offset {pos}): {} byte(s) left, a block needs at least 12",
                rest.len()
            )));
        }
        let is_shb = rest[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
        if is_shb {
            order = match rest[8..12] {
                [0x1a, 0x2b, 0x3c, 0x4d] => Order::Big,
                [0x4d, 0x3c, 0x2b, 0x1a] => Order::Little,
                _ => {
                    return Err(format_err(format!(
                        "pcapng section header at file offset {pos} has a bad byte-order magic {:02x}{:02x}{:02x}{:02x}",
                        rest[8], rest[9], rest[10], rest[11]
                    )));
                }
            };
            seen_shb = true;
            interfaces.clear();
        } else if !seen_shb {
            return Err(format_err("pcapng file does not start with a section header block"));
        }
        let btype = rd_u32(rest, 0, order).unwrap_or(0);
        let blen_u32 = rd_u32(rest, 4, order).unwrap_or(0);
        let blen = blen_u32 as usize;
        if blen < 12 || !blen.is_multiple_of(4) {
            return Err(format_err(format!(
                "invalid pcapng block length {blen_u32} at frame {index} (file offset {pos}, block type 0x{btype:08x})"
            )));
        }
        if blen > rest.len() {
            return Err(format_err(format!(
                "truncated pcapng block at frame {index} (file offset {pos}, block type 0x{btype:08x}): block length {blen_u32}, {} byte(s) left",
                rest.len()
            )));
        }
        let trailer = rd_u32(rest, blen - 4, order).unwrap_or(0);
        if trailer != blen_u32 {
            return Err(format_err(format!(
                "corrupt pcapng block at frame {index} (file offset {pos}, block type 0x{btype:08x}): trailing length {trailer} != leading length {blen_u32}"
            )));
        }
        let body = &rest[8..blen - 4];
        pos += blen;

        match btype {
            BT_SHB if body.len() < 16 => {
                return Err(format_err(format!(
                    "pcapng section header block at file offset {} is too short ({} body bytes)",
                    pos - blen,
                    body.len()
                )));
            }
            BT_IDB => match parse_idb(body, order) {
                Some(iface) => interfaces.push(iface),
                None => {
                    return Err(format_err(format!(
                        "pcapng interface description block at file offset {} is too short ({} body bytes)",
                        pos - blen,
                        body.len()
                    )));
                }
            },
            BT_EPB | BT_PB => {
                let name = if btype == BT_EPB { "enhanced packet block" } else { "packet block" };
                let fields = if btype == BT_EPB {
                    (|| {
                        Some((
                            rd_u32(body, 0, order)?,
                            rd_u32(body, 4, order)?,
                            rd_u32(body, 8, order)?,
                            rd_u32(body, 12, order)?,
                            rd_u32(body, 16, order)?,
                        ))
                    })()
                } else {
                    (|| {
                        Some((
                            u32::from(rd_u16(body, 0, order)?),
                            rd_u32(body, 4, order)?,
                            rd_u32(body, 8, order)?,
                            rd_u32(body, 12, order)?,
                            rd_u32(body, 16, order)?,
                        ))
                    })()
                };
                let Some((ifid, ts_hi, ts_lo, caplen, origlen)) = fields else {
                    return Err(format_err(format!(
                        "pcapng {name} at frame {index} (file offset {}) is too short ({} body bytes)",
                        pos - blen,
                        body.len()
                    )));
                };
                let Some(pkt) = 20usize.checked_add(caplen as usize).and_then(|end| body.get(20..end)) else {
                    return Err(format_err(format!(
                        "truncated pcapng {name} at frame {index} (file offset {}): captured length {caplen} exceeds the block ({} data bytes)",
                        pos - blen,
                        body.len() - 20
                    )));
                };
                let ticks = (u64::from(ts_hi) << 32) | u64::from(ts_lo);
                let content = match interfaces.get(ifid as usize) {
                    None => FrameContent::Skipped(format!(
                        "packet on undefined pcapng interface {ifid} ({} defined)",
                        interfaces.len()
                    )),
                    Some(iface) => {
                        last_ts = ticks_to_nanos(ticks, iface.tsresol, iface.tsoffset);
                        if caplen < origlen {
                            FrameContent::Skipped(format!("truncated (caplen {caplen} < len {origlen})"))
                        } else {
                            decode_link(iface.linktype, pkt, order)
                        }
                    }
                };
                frames.push(Frame { index, ts_nanos: last_ts, content });
            }
            BT_SPB => {
                let Some(origlen) = rd_u32(body, 0, order) else {
                    return Err(format_err(format!(
                        "pcapng simple packet block at frame {index} (file offset {}) is too short",
                        pos - blen
                    )));
                };
                let avail = &body[4..];
                let content = match interfaces.first() {
                    None => FrameContent::Skipped(
                        "simple packet block without an interface description".to_string(),
                    ),
                    Some(iface) => {
                        let mut caplen = (origlen as usize).min(avail.len());
                        if iface.snaplen != 0 {
                            caplen = caplen.min(iface.snaplen as usize);
                        }
                        if (caplen as u64) < u64::from(origlen) {
                            FrameContent::Skipped(format!("truncated (caplen {caplen} < len {origlen})"))
                        } else {
                            decode_link(iface.linktype, &avail[..caplen], order)
                        }
                    }
                };
                frames.push(Frame { index, ts_nanos: last_ts, content });
            }
            _ => {} // name resolution, statistics, custom, ...: not frames
        }
    }
    if !seen_shb {
        return Err(format_err("empty pcapng file"));
    }
    Ok(frames)
}

// ---------------------------------------------------------------------------
// Link layer -> IP packet
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

/// Trim an IP packet to its own length when the frame carries trailing bytes
/// (Ethernet minimum-size padding, FCS, ...). Only when the header's length is
/// non-zero, no larger than what is present and (IPv4) covers the header;
/// otherwise the bytes are left exactly as captured.
fn trim_ip(p: &[u8], fam: Family) -> &[u8] {
    let version = p.first().map(|b| b >> 4);
    match fam {
        Family::V4 if version == Some(4) => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if let Some(tot) = be16(p, 2) {
                let tot = usize::from(tot);
                if tot != 0 && tot >= ihl && tot <= p.len() {
                    return &p[..tot];
                }
            }
            p
        }
        Family::V6 if version == Some(6) => {
            if let Some(plen) = be16(p, 4) {
                let tot = 40 + usize::from(plen);
                if plen != 0 && tot <= p.len() {
                    return &p[..tot];
                }
            }
            p
        }
        _ => p,
    }
}

fn ip(p: &[u8], fam: Family) -> FrameContent {
    FrameContent::Ip(trim_ip(p, fam).to_vec())
}

fn skipped(reason: impl Into<String>) -> FrameContent {
    FrameContent::Skipped(reason.into())
}

/// Handle an EtherType (or 802.3 length field) and the bytes after it:
/// VLAN tags, PPPoE session, IPv4/IPv6.
fn from_ethertype(etype: u16, p: &[u8]) -> FrameContent {
    let Some((etype, p)) = skip_vlan_tags(etype, p) else {
        return skipped(format!("truncated VLAN tag (ethertype 0x{:04x})", truncated_tpid(etype, p)));
    };
    match etype {
        0x0800 => ip(p, Family::V4),
        0x86dd => ip(p, Family::V6),
        0x8864 => {
            let Some(proto) = be16(p, 6) else {
                return skipped("truncated PPPoE session header");
            };
            from_ppp_protocol(proto, &p[8..])
        }
        _ => skipped(format!("non-IP ethertype 0x{etype:04x}")),
    }
}

/// The TPID of the tag that cut short the walk of `skip_vlan_tags(etype, p)`.
/// Tags are 4 bytes and the walk stops at the first one with fewer than 4
/// bytes left, so `p.len() / 4` whole tags were skipped: the last of them (if
/// any) carries the TPID of the cut one in its final two bytes.
fn truncated_tpid(etype: u16, p: &[u8]) -> u16 {
    match p.len() / 4 {
        0 => etype,
        whole => be16(p, whole * 4 - 2).unwrap_or(etype),
    }
}

fn from_ppp_protocol(proto: u16, p: &[u8]) -> FrameContent {
    match proto {
        0x0021 => ip(p, Family::V4),
        0x0057 => ip(p, Family::V6),
        _ => skipped(format!("non-IP PPP protocol 0x{proto:04x}")),
    }
}

fn null_family(fam: u32) -> Option<Family> {
    match fam {
        2 => Some(Family::V4),
        10 | 24 | 28 | 30 => Some(Family::V6),
        _ => None,
    }
}

/// Strip the link-layer header of one frame. `order` is the capture's byte
/// order (used for the host-byte-order fields of NULL and NFLOG).
fn decode_link(linktype: u32, data: &[u8], order: Order) -> FrameContent {
    match linktype {
        // Ethernet
        1 => match be16(data, 12) {
            Some(etype) => from_ethertype(etype, &data[14..]),
            None => skipped(format!("short Ethernet frame ({} bytes)", data.len())),
        },
        // Linux cooked capture v1: protocol at offset 14, 16-byte header
        113 => match (be16(data, 14), data.get(16..)) {
            (Some(etype), Some(p)) => from_ethertype(etype, p),
            _ => skipped(format!("short Linux SLL frame ({} bytes)", data.len())),
        },
        // Linux cooked capture v2: protocol at offset 0, 20-byte header
        276 => match (be16(data, 0), data.get(20..)) {
            (Some(etype), Some(p)) => from_ethertype(etype, p),
            _ => skipped(format!("short Linux SLL2 frame ({} bytes)", data.len())),
        },
        // Raw IP, version from the first nibble
        101 | 12 | 14 => match data.first().map(|b| b >> 4) {
            None => skipped("empty raw IP packet"),
            Some(4) => ip(data, Family::V4),
            Some(6) => ip(data, Family::V6),
            Some(v) => skipped(format!("raw IP packet with IP version {v}")),
        },
        228 => ip(data, Family::V4),
        229 => ip(data, Family::V6),
        // BSD NULL: 4-byte address family in the capturing host's byte order
        0 => {
            let Some(fam) = rd_u32(data, 0, order) else {
                return skipped(format!("short NULL/loopback frame ({} bytes)", data.len()));
            };
            let other = rd_u32(data, 0, order.other()).unwrap_or(fam);
            match null_family(fam).or_else(|| null_family(other)) {
                Some(f) => ip(&data[4..], f),
                None => skipped(format!("non-IP NULL/loopback family {}", fam.min(other))),
            }
        }
        // OpenBSD LOOP: family in network byte order
        108 => match rd_u32(data, 0, Order::Big) {
            Some(fam) => match null_family(fam) {
                Some(f) => ip(&data[4..], f),
                None => skipped(format!("non-IP loopback family {fam}")),
            },
            None => skipped(format!("short LOOP frame ({} bytes)", data.len())),
        },
        // PPP (9) and PPP in HDLC-like framing (50)
        9 | 50 => {
            let d = if data.starts_with(&[0xff, 0x03]) { &data[2..] } else { data };
            match be16(d, 0) {
                Some(proto) => from_ppp_protocol(proto, &d[2..]),
                None => skipped(format!("short PPP frame ({} bytes)", data.len())),
            }
        }
        // Linux NFLOG: 4-byte header (family, version, resource id), then
        // TLVs with host-byte-order length/type; type 9 is the packet payload.
        239 => {
            let Some(&af) = data.first().filter(|_| data.len() >= 4) else {
                return skipped(format!("short NFLOG frame ({} bytes)", data.len()));
            };
            let mut off = 4usize;
            while let (Some(tlen), Some(ttype)) = (rd_u16(data, off, order), rd_u16(data, off + 2, order)) {
                let tlen = usize::from(tlen);
                if tlen < 4 {
                    break;
                }
                if ttype == 9 {
                    let end = (off + tlen).min(data.len());
                    let p = &data[off + 4..end];
                    return match (af, p.first().map(|b| b >> 4)) {
                        (2, _) | (_, Some(4)) => ip(p, Family::V4),
                        (10, _) | (_, Some(6)) => ip(p, Family::V6),
                        _ => skipped(format!("NFLOG payload of non-IP family {af}")),
                    };
                }
                off += (tlen + 3) & !3;
            }
            skipped("NFLOG record without payload")
        }
        other => skipped(format!("unsupported link type {other}")),
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    // ----- packet builders -----

    /// A minimal IPv4/UDP packet of `payload` bytes (total length is correct).
    fn ipv4_udp(payload: usize) -> Vec<u8> {
        let tot = 20 + 8 + payload;
        let mut p = vec![
            0x45,
            0x00,
            (tot >> 8) as u8,
            tot as u8,
            0x12,
            0x34,
            0x40,
            0x00,
            64,
            17,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        let ulen = 8 + payload;
        p.extend_from_slice(&[0x04, 0xd2, 0x00, 0x35, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        p.extend((0..payload).map(|i| i as u8));
        p
    }

    /// A minimal IPv6/UDP packet of `payload` bytes.
    fn ipv6_udp(payload: usize) -> Vec<u8> {
        let plen = 8 + payload;
        let mut p = vec![0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, 17, 64];
        p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[0x04, 0xd2, 0x00, 0x35, (plen >> 8) as u8, plen as u8, 0, 0]);
        p.extend((0..payload).map(|i| i as u8));
        p
    }

    const MAC_HDR: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

    /// Ethernet frame: MACs, then each (TPID, TCI) tag, then ethertype and payload.
    fn eth(tags: &[(u16, u16)], etype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = MAC_HDR.to_vec();
        for &(tpid, tci) in tags {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        f.extend_from_slice(&etype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn put_u16(v: &mut Vec<u8>, x: u16, big: bool) {
        v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
    }
    fn put_u32(v: &mut Vec<u8>, x: u32, big: bool) {
        v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
    }

    // ----- pcap builders -----

    struct Rec {
        sec: u32,
        frac: u32,
        orig_len: Option<u32>,
        data: Vec<u8>,
    }

    fn rec(sec: u32, frac: u32, data: Vec<u8>) -> Rec {
        Rec { sec, frac, orig_len: None, data }
    }

    fn pcap_bytes(linktype: u32, nano: bool, big: bool, recs: &[Rec]) -> Vec<u8> {
        let mut v = Vec::new();
        put_u32(&mut v, if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, big);
        put_u16(&mut v, 2, big);
        put_u16(&mut v, 4, big);
        put_u32(&mut v, 0, big);
        put_u32(&mut v, 0, big);
        put_u32(&mut v, 65535, big);
        put_u32(&mut v, linktype, big);
        for r in recs {
            put_u32(&mut v, r.sec, big);
            put_u32(&mut v, r.frac, big);
            put_u32(&mut v, r.data.len() as u32, big);
            put_u32(&mut v, r.orig_len.unwrap_or(r.data.len() as u32), big);
            v.extend_from_slice(&r.data);
        }
        v
    }

    fn pcap_le(linktype: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let recs: Vec<Rec> = frames
            .iter()
            .enumerate()
            .map(|(i, d)| rec(1_700_000_000 + i as u32, 250_000, d.clone()))
            .collect();
        pcap_bytes(linktype, false, false, &recs)
    }

    /// Read a one-linktype LE microsecond pcap and return the contents.
    fn contents(linktype: u32, frames: &[Vec<u8>]) -> Vec<FrameContent> {
        read_capture_bytes(&pcap_le(linktype, frames)).unwrap().into_iter().map(|f| f.content).collect()
    }

    fn one(linktype: u32, frame: Vec<u8>) -> FrameContent {
        contents(linktype, &[frame]).remove(0)
    }

    fn ipc(p: &[u8]) -> FrameContent {
        FrameContent::Ip(p.to_vec())
    }
    fn skip(s: &str) -> FrameContent {
        FrameContent::Skipped(s.to_string())
    }

    // ----- pcapng builders -----

    fn block(btype: u32, body: &[u8], big: bool) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = body.len() as u32 + 12;
        let mut v = Vec::new();
        put_u32(&mut v, btype, big);
        put_u32(&mut v, len, big);
        v.extend_from_slice(&body);
        put_u32(&mut v, len, big);
        v
    }

    fn shb(big: bool) -> Vec<u8> {
        let mut b = Vec::new();
        put_u32(&mut b, 0x1a2b_3c4d, big);
        put_u16(&mut b, 1, big);
        put_u16(&mut b, 0, big);
        b.extend_from_slice(&[0xff; 8]); // section length -1
        block(BT_SHB, &b, big)
    }

    /// IDB; `opts` are (code, value) pairs; `endofopt` adds the terminator.
    fn idb(linktype: u16, snaplen: u32, opts: &[(u16, Vec<u8>)], endofopt: bool, big: bool) -> Vec<u8> {
        let mut b = Vec::new();
        put_u16(&mut b, linktype, big);
        put_u16(&mut b, 0, big);
        put_u32(&mut b, snaplen, big);
        for (code, val) in opts {
            put_u16(&mut b, *code, big);
            put_u16(&mut b, val.len() as u16, big);
            b.extend_from_slice(val);
            while b.len() % 4 != 0 {
                b.push(0);
            }
        }
        if endofopt && !opts.is_empty() {
            b.extend_from_slice(&[0; 4]);
        }
        block(BT_IDB, &b, big)
    }

    fn epb(ifid: u32, ticks: u64, data: &[u8], orig_len: u32, big: bool) -> Vec<u8> {
        let mut b = Vec::new();
        put_u32(&mut b, ifid, big);
        put_u32(&mut b, (ticks >> 32) as u32, big);
        put_u32(&mut b, ticks as u32, big);
        put_u32(&mut b, data.len() as u32, big);
        put_u32(&mut b, orig_len, big);
        b.extend_from_slice(data);
        block(BT_EPB, &b, big)
    }

    fn spb(data: &[u8], big: bool) -> Vec<u8> {
        let mut b = Vec::new();
        put_u32(&mut b, data.len() as u32, big);
        b.extend_from_slice(data);
        block(BT_SPB, &b, big)
    }

    // ----- link types -----

    #[test]
    fn ethernet_ipv4_and_ipv6() {
        let v4 = ipv4_udp(20);
        let v6 = ipv6_udp(20);
        let got = contents(1, &[eth(&[], 0x0800, &v4), eth(&[], 0x86dd, &v6)]);
        assert_eq!(got, vec![ipc(&v4), ipc(&v6)]);
    }

    #[test]
    fn ethernet_single_vlan() {
        let v4 = ipv4_udp(30);
        assert_eq!(one(1, eth(&[(0x8100, 42)], 0x0800, &v4)), ipc(&v4));
    }

    #[test]
    fn ethernet_qinq_and_9100() {
        let v4 = ipv4_udp(30);
        let v6 = ipv6_udp(3);
        assert_eq!(one(1, eth(&[(0x88a8, 100), (0x8100, 42)], 0x0800, &v4)), ipc(&v4));
        assert_eq!(one(1, eth(&[(0x9100, 1), (0x88a8, 2), (0x8100, 3)], 0x86dd, &v6)), ipc(&v6));
        // Tag claimed but frame ends: skipped, no panic.
        let mut f = MAC_HDR.to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x00]);
        assert!(matches!(one(1, f), FrameContent::Skipped(s) if s.contains("VLAN")));
        // The reason names the tag that is cut short, outer or inner.
        assert_eq!(
            one(1, MAC_HDR.to_vec().into_iter().chain([0x88, 0xa8]).collect()),
            skip("truncated VLAN tag (ethertype 0x88a8)")
        );
        let mut f = eth(&[(0x88a8, 1)], 0x8100, &[]);
        f.extend_from_slice(&[0x00, 0x02, 0x08]);
        assert_eq!(one(1, f), skip("truncated VLAN tag (ethertype 0x8100)"));
        let f = eth(&[(0x9100, 1), (0x88a8, 2)], 0x8100, &[0, 3]);
        assert_eq!(one(1, f), skip("truncated VLAN tag (ethertype 0x8100)"));
    }

    #[test]
    fn ethernet_pppoe_session() {
        let v4 = ipv4_udp(10);
        let v6 = ipv6_udp(10);
        let pppoe = |proto: u16, p: &[u8]| {
            let mut b = vec![0x11, 0x00, 0x12, 0x34];
            b.extend_from_slice(&((p.len() + 2) as u16).to_be_bytes());
            b.extend_from_slice(&proto.to_be_bytes());
            b.extend_from_slice(p);
            b
        };
        assert_eq!(one(1, eth(&[], 0x8864, &pppoe(0x0021, &v4))), ipc(&v4));
        assert_eq!(one(1, eth(&[(0x8100, 7)], 0x8864, &pppoe(0x0057, &v6))), ipc(&v6));
        assert_eq!(
            one(1, eth(&[], 0x8864, &pppoe(0xc021, &[1, 2, 3, 4]))),
            skip("non-IP PPP protocol 0xc021")
        );
        assert_eq!(one(1, eth(&[], 0x8863, &[0x11, 0x09, 0, 0, 0, 0])), skip("non-IP ethertype 0x8863"));
    }

    #[test]
    fn arp_is_skipped() {
        let arp = [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2];
        assert_eq!(one(1, eth(&[], 0x0806, &arp)), skip("non-IP ethertype 0x0806"));
    }

    #[test]
    fn stp_8023_length_field_is_reported_as_ethertype() {
        let mut f = vec![0x01, 0x80, 0xc2, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0x00, 0x27, 0x42, 0x42, 0x03];
        f.extend_from_slice(&[0; 36]);
        assert_eq!(one(1, f), skip("non-IP ethertype 0x0027"));
    }

    #[test]
    fn short_ethernet_is_skipped() {
        assert!(matches!(one(1, vec![1, 2, 3]), FrameContent::Skipped(s) if s.contains("short Ethernet")));
    }

    #[test]
    fn linux_sll() {
        let v4 = ipv4_udp(12);
        let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        f.extend_from_slice(&v4);
        assert_eq!(one(113, f), ipc(&v4));
        let mut arp = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x06];
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(one(113, arp), skip("non-IP ethertype 0x0806"));
        assert!(matches!(one(113, vec![0; 15]), FrameContent::Skipped(s) if s.contains("SLL")));
    }

    #[test]
    fn linux_sll2() {
        let v6 = ipv6_udp(12);
        let mut f = vec![0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        f.extend_from_slice(&v6);
        assert_eq!(one(276, f), ipc(&v6));
        // VLAN inside SLL2
        let v4 = ipv4_udp(1);
        let mut f = vec![0x81, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        f.extend_from_slice(&[0, 5, 0x08, 0x00]);
        f.extend_from_slice(&v4);
        assert_eq!(one(276, f), ipc(&v4));
    }

    #[test]
    fn raw_ip_link_types() {
        let v4 = ipv4_udp(5);
        let v6 = ipv6_udp(5);
        for lt in [101, 12, 14] {
            assert_eq!(contents(lt, &[v4.clone(), v6.clone()]), vec![ipc(&v4), ipc(&v6)], "link type {lt}");
            assert_eq!(one(lt, vec![0x50, 0, 0, 0]), skip("raw IP packet with IP version 5"));
            assert_eq!(one(lt, vec![]), skip("empty raw IP packet"));
        }
        assert_eq!(one(228, v4.clone()), ipc(&v4));
        assert_eq!(one(229, v6.clone()), ipc(&v6));
    }

    #[test]
    fn bsd_null_and_loop() {
        let v4 = ipv4_udp(5);
        let v6 = ipv6_udp(5);
        let with_fam = |fam: [u8; 4], p: &[u8]| {
            let mut f = fam.to_vec();
            f.extend_from_slice(p);
            f
        };
        // Little-endian capture, host-order family.
        assert_eq!(one(0, with_fam(2u32.to_le_bytes(), &v4)), ipc(&v4));
        for fam in [24u32, 28, 30] {
            assert_eq!(one(0, with_fam(fam.to_le_bytes(), &v6)), ipc(&v6));
        }
        // Family in the other byte order than the capture: still found.
        assert_eq!(one(0, with_fam(2u32.to_be_bytes(), &v4)), ipc(&v4));
        // Big-endian capture.
        let be = pcap_bytes(0, false, true, &[rec(1, 2, with_fam(30u32.to_be_bytes(), &v6))]);
        assert_eq!(read_capture_bytes(&be).unwrap()[0].content, ipc(&v6));
        assert_eq!(one(0, with_fam(7u32.to_le_bytes(), &[1, 2])), skip("non-IP NULL/loopback family 7"));
        // LOOP: network byte order.
        assert_eq!(one(108, with_fam(2u32.to_be_bytes(), &v4)), ipc(&v4));
        assert_eq!(one(108, with_fam(24u32.to_be_bytes(), &v6)), ipc(&v6));
        assert_eq!(one(108, with_fam(2u32.to_le_bytes(), &v4)), skip("non-IP loopback family 33554432"));
    }

    #[test]
    fn ppp_link_type() {
        let v4 = ipv4_udp(5);
        let v6 = ipv6_udp(5);
        let mut a = vec![0xff, 0x03, 0x00, 0x21];
        a.extend_from_slice(&v4);
        let mut b = vec![0x00, 0x57];
        b.extend_from_slice(&v6);
        assert_eq!(contents(9, &[a, b]), vec![ipc(&v4), ipc(&v6)]);
        assert_eq!(one(9, vec![0xff, 0x03, 0xc0, 0x21, 1]), skip("non-IP PPP protocol 0xc021"));
    }

    #[test]
    fn unsupported_link_type() {
        assert_eq!(one(147, vec![1, 2, 3]), skip("unsupported link type 147"));
    }

    // ----- truncation, padding -----

    #[test]
    fn truncated_frame_is_skipped() {
        let f = eth(&[], 0x0800, &ipv4_udp(100));
        let recs = [Rec { sec: 1, frac: 0, orig_len: Some(f.len() as u32), data: f[..60].to_vec() }];
        let frames = read_capture_bytes(&pcap_bytes(1, false, false, &recs)).unwrap();
        assert_eq!(frames[0].content, skip("truncated (caplen 60 < len 142)"));
    }

    #[test]
    fn ethernet_padding_is_trimmed() {
        // 28-byte IPv4 packet padded to the 60-byte Ethernet minimum (+ FCS-like junk).
        let v4 = ipv4_udp(0);
        let mut padded = v4.clone();
        padded.extend_from_slice(&[0xaa; 22]);
        assert_eq!(one(1, eth(&[], 0x0800, &padded)), ipc(&v4));
        // IPv6 with trailing bytes.
        let v6 = ipv6_udp(0);
        let mut padded6 = v6.clone();
        padded6.extend_from_slice(&[0xbb; 6]);
        assert_eq!(one(1, eth(&[], 0x86dd, &padded6)), ipc(&v6));
        // Raw IP also trims.
        assert_eq!(one(101, padded.clone()), ipc(&v4));
    }

    #[test]
    fn malformed_lengths_are_left_alone() {
        // Total length larger than present: untouched.
        let mut big = ipv4_udp(4);
        big[2] = 0x05;
        big[3] = 0xdc;
        assert_eq!(one(1, eth(&[], 0x0800, &big)), ipc(&big));
        // Total length zero (TSO): untouched.
        let mut zero = ipv4_udp(4);
        zero[2] = 0;
        zero[3] = 0;
        zero.extend_from_slice(&[0; 8]);
        assert_eq!(one(1, eth(&[], 0x0800, &zero)), ipc(&zero));
        // Total length smaller than the header: untouched.
        let mut tiny = ipv4_udp(4);
        tiny[3] = 10;
        tiny[2] = 0;
        assert_eq!(one(1, eth(&[], 0x0800, &tiny)), ipc(&tiny));
        // IPv6 payload length 0 (jumbogram) with extra bytes: untouched.
        let mut jumbo = ipv6_udp(4);
        jumbo[4] = 0;
        jumbo[5] = 0;
        assert_eq!(one(1, eth(&[], 0x86dd, &jumbo)), ipc(&jumbo));
        // Ethertype says IPv4 but the version nibble is 6: untouched.
        let mut v6 = ipv6_udp(0);
        v6.extend_from_slice(&[0; 4]);
        assert_eq!(one(1, eth(&[], 0x0800, &v6)), ipc(&v6));
    }

    // ----- pcap variants and timestamps -----

    #[test]
    fn pcap_timestamps_micro_and_nano_both_orders() {
        let f = eth(&[], 0x0800, &ipv4_udp(1));
        for big in [false, true] {
            let micro = pcap_bytes(1, false, big, &[rec(1_700_000_000, 123_456, f.clone())]);
            let fr = read_capture_bytes(&micro).unwrap();
            assert_eq!(fr.len(), 1);
            assert_eq!(fr[0].index, 0);
            assert_eq!(fr[0].ts_nanos, 1_700_000_000_123_456_000);
            let nano =
                pcap_bytes(1, true, big, &[rec(1_700_000_000, 123_456_789, f.clone()), rec(5, 1, f.clone())]);
            let fr = read_capture_bytes(&nano).unwrap();
            assert_eq!(fr[0].ts_nanos, 1_700_000_000_123_456_789);
            assert_eq!(fr[1].ts_nanos, 5_000_000_001);
            assert_eq!(fr[1].index, 1);
            assert!(matches!(fr[1].content, FrameContent::Ip(_)));
        }
    }

    #[test]
    fn pcap_header_only_is_empty() {
        assert_eq!(read_capture_bytes(&pcap_le(1, &[])).unwrap(), vec![]);
    }

    #[test]
    fn pcap_linktype_fcs_bits_are_masked() {
        let v4 = ipv4_udp(2);
        let mut file = pcap_le(1, &[eth(&[], 0x0800, &v4)]);
        file[20..24].copy_from_slice(&(1u32 | 0x1000_0000 | 0x0400_0000).to_le_bytes());
        assert_eq!(read_capture_bytes(&file).unwrap()[0].content, ipc(&v4));
    }

    // ----- pcapng -----

    #[test]
    fn pcapng_tsresol_nanoseconds_and_default_micro() {
        let v4 = ipv4_udp(3);
        let v6 = ipv6_udp(3);
        let mut f = shb(false);
        f.extend(idb(1, 0, &[(2, b"eth0".to_vec()), (9, vec![9])], true, false)); // ns, Ethernet
        f.extend(idb(101, 65535, &[], true, false)); // default us, raw IP
        f.extend(epb(0, 1_700_000_000_123_456_789, &eth(&[], 0x0800, &v4), 42, false));
        f.extend(epb(1, 1_700_000_000_123_456, &v6, v6.len() as u32, false));
        f.extend(spb(&eth(&[(0x8100, 5)], 0x0800, &v4), false));
        let frames = read_capture_bytes(&f).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].ts_nanos, 1_700_000_000_123_456_789);
        assert_eq!(frames[0].content, ipc(&v4));
        assert_eq!(frames[1].ts_nanos, 1_700_000_000_123_456_000);
        assert_eq!(frames[1].content, ipc(&v6));
        // Simple Packet Block: interface 0, previous timestamp.
        assert_eq!(frames[2].index, 2);
        assert_eq!(frames[2].ts_nanos, 1_700_000_000_123_456_000);
        assert_eq!(frames[2].content, ipc(&v4));
    }

    #[test]
    fn pcapng_big_endian_power_of_two_resolution_and_offset() {
        let v4 = ipv4_udp(3);
        let mut f = shb(true);
        // 2^-10 s ticks, 100 s offset, options without opt_endofopt.
        f.extend(idb(228, 0, &[(9, vec![0x80 | 10]), (14, 100u64.to_be_bytes().to_vec())], false, true));
        f.extend(epb(0, 3 * 1024 + 512, &v4, v4.len() as u32, true));
        let frames = read_capture_bytes(&f).unwrap();
        assert_eq!(frames[0].ts_nanos, 103_500_000_000);
        assert_eq!(frames[0].content, ipc(&v4));
    }

    #[test]
    fn pcapng_truncated_undefined_interface_and_unknown_blocks() {
        let v4 = ipv4_udp(40);
        let frame = eth(&[], 0x0800, &v4);
        let mut f = shb(false);
        f.extend(idb(1, 0, &[], true, false));
        f.extend(block(0x0000_0004, &[0, 0, 0, 0], false)); // name resolution: ignored
        f.extend(epb(0, 5, &frame[..40], frame.len() as u32, false));
        f.extend(epb(3, 6, &frame, frame.len() as u32, false));
        f.extend(block(0x4000_0bad, &[1, 2, 3], false)); // custom: ignored
        // A new section resets the interfaces.
        f.extend(shb(true));
        f.extend(idb(147, 0, &[], true, true));
        f.extend(epb(0, 7, &[1, 2, 3], 3, true));
        let frames = read_capture_bytes(&f).unwrap();
        let c: Vec<_> = frames.iter().map(|x| x.content.clone()).collect();
        assert_eq!(
            c,
            vec![
                skip(&format!("truncated (caplen 40 < len {})", frame.len())),
                skip("packet on undefined pcapng interface 3 (1 defined)"),
                skip("unsupported link type 147"),
            ]
        );
        assert_eq!(frames.iter().map(|x| x.index).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(frames[2].ts_nanos, 7_000);
    }

    #[test]
    fn pcapng_errors() {
        let v4 = ipv4_udp(3);
        let mut f = shb(false);
        f.extend(idb(101, 0, &[], true, false));
        f.extend(epb(0, 1, &v4, v4.len() as u32, false));
        f.extend(epb(0, 2, &v4, v4.len() as u32, false));
        assert_eq!(read_capture_bytes(&f).unwrap().len(), 2);
        // Truncated in the last block.
        let cut = &f[..f.len() - 10];
        let err = read_capture_bytes(cut).unwrap_err().to_string();
        assert!(err.contains("truncated pcapng block at frame 1"), "{err}");
        // Trailer mismatch.
        let mut bad = f.clone();
        let n = bad.len();
        bad[n - 4] ^= 0x40;
        let err = read_capture_bytes(&bad).unwrap_err().to_string();
        assert!(err.contains("trailing length"), "{err}");
        // Bad byte-order magic.
        let mut bad = f.clone();
        bad[8] = 0;
        assert!(matches!(read_capture_bytes(&bad), Err(CaptureError::Format(_))));
        // Captured length beyond the block.
        let mut bad = f.clone();
        let epb_off = shb(false).len() + idb(101, 0, &[], true, false).len();
        bad[epb_off + 8 + 12..epb_off + 8 + 16].copy_from_slice(&1000u32.to_le_bytes());
        let err = read_capture_bytes(&bad).unwrap_err().to_string();
        assert!(err.contains("captured length 1000"), "{err}");
    }

    // ----- errors -----

    #[test]
    fn garbage_is_an_error() {
        for data in [&b""[..], &b"\x01"[..], &b"hello world, this is not a capture file"[..], &[0u8; 100][..]]
        {
            match read_capture_bytes(data) {
                Err(CaptureError::Format(msg)) => {
                    assert!(msg.contains("not a pcap or pcapng"), "{msg}")
                }
                other => panic!("expected a format error, got {other:?}"),
            }
        }
        let err = read_capture_bytes(&[0xa1, 0xb2, 0xcd, 0x34, 0, 0]).unwrap_err().to_string();
        assert!(err.contains("Kuznetzov"), "{err}");
    }

    #[test]
    fn truncated_pcap_is_an_error() {
        let f = eth(&[], 0x0800, &ipv4_udp(20));
        let file = pcap_le(1, &[f.clone(), f.clone(), f.clone()]);
        // Cut inside the third record's data.
        let err = read_capture_bytes(&file[..file.len() - 5]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CaptureError::Format(_)));
        assert!(msg.contains("truncated pcap record at frame 2"), "{msg}");
        // Cut inside the third record's header.
        let err = read_capture_bytes(&file[..file.len() - f.len() - 3]).unwrap_err().to_string();
        assert!(err.contains("truncated pcap record at frame 2"), "{err}");
        // Cut inside the global header.
        let err = read_capture_bytes(&file[..10]).unwrap_err().to_string();
        assert!(err.contains("truncated pcap file header"), "{err}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = read_capture(Path::new("/nonexistent/capture.pcap")).unwrap_err();
        assert!(matches!(err, CaptureError::Io(_)));
        assert!(err.to_string().contains("/nonexistent/capture.pcap"));
        assert!(std::error::Error::source(&err).is_some());
    }

    // ----- real captures -----

    /// `../shared/corpus` beside the checkout (this crate is `support/capture`).
    const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");

    #[test]
    fn corpus_dns_single_query_response() {
        let path = Path::new(CORPUS).join("udp/ipv4-dns-single-query-response.pcap");
        if !path.exists() {
            eprintln!("skipping: {} not found", path.display());
            return;
        }
        let frames = read_capture(&path).unwrap();
        assert_eq!(frames.len(), 2);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.index, i);
            assert!(f.ts_nanos > 1_000_000_000_000_000_000, "timestamp {}", f.ts_nanos);
            let FrameContent::Ip(p) = &f.content else { panic!("frame {i} skipped: {:?}", f.content) };
            assert_eq!(p[0] >> 4, 4, "IPv4");
            assert_eq!(p[9], 17, "UDP");
            assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len(), "trimmed to total length");
        }
        assert!(frames[0].ts_nanos <= frames[1].ts_nanos);
    }

    #[test]
    fn corpus_lan_mixed_with_arp_and_stp() {
        let path = Path::new(CORPUS).join("mixed/lan-wikipedia-browse-dns-mdns-nbns-arp-stp.pcap");
        if !path.exists() {
            eprintln!("skipping: {} not found", path.display());
            return;
        }
        let frames = read_capture(&path).unwrap();
        let arp = frames.iter().filter(|f| f.content == skip("non-IP ethertype 0x0806")).count();
        let stp = frames.iter().filter(|f| f.content == skip("non-IP ethertype 0x0027")).count();
        assert!(arp > 0 && stp > 0, "arp {arp} stp {stp}");
        // Compare every skip with the reference tool's verdicts when they are there.
        let jsonl = path.with_file_name("lan-wikipedia-browse-dns-mdns-nbns-arp-stp.linux.jsonl");
        if let Ok(text) = std::fs::read_to_string(&jsonl) {
            let mut checked = 0;
            for line in text.lines() {
                let Some(rest) = line.strip_prefix("{\"i\": ") else {
                    continue;
                };
                let Some(i) = rest.split(',').next().and_then(|s| s.parse::<usize>().ok()) else {
                    continue;
                };
                if let Some(w) = line.split("\"why\": \"").nth(1).and_then(|s| s.split('"').next()) {
                    if w.starts_with("non-IP") {
                        assert_eq!(frames[i].content, skip(w), "frame {i}");
                        checked += 1;
                    }
                } else if line.contains("\"summary\"") {
                    assert!(
                        matches!(frames[i].content, FrameContent::Ip(_)),
                        "frame {i}: {:?}",
                        frames[i].content
                    );
                }
            }
            assert!(checked > 0);
        }
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.index, i);
        }
    }

    // ----- robustness -----

    fn sample_files() -> Vec<Vec<u8>> {
        let v4 = ipv4_udp(9);
        let v6 = ipv6_udp(9);
        let mut ng = shb(false);
        ng.extend(idb(1, 0, &[(9, vec![9])], true, false));
        ng.extend(idb(0, 0, &[], true, false));
        ng.extend(epb(0, 77, &eth(&[(0x8100, 1)], 0x0800, &v4), 60, false));
        ng.extend(epb(1, 78, &[2, 0, 0, 0, 0x45, 0, 0, 20], 8, false));
        ng.extend(spb(&eth(&[], 0x86dd, &v6), false));
        let mut ng_be = shb(true);
        ng_be.extend(idb(276, 0, &[], false, true));
        ng_be.extend(epb(
            0,
            1,
            &[0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x45, 0],
            22,
            true,
        ));
        vec![
            pcap_le(
                1,
                &[
                    eth(&[], 0x0800, &v4),
                    eth(&[(0x88a8, 1), (0x8100, 2)], 0x86dd, &v6),
                    eth(&[], 0x0806, &[0; 28]),
                ],
            ),
            pcap_bytes(113, true, true, &[rec(1, 2, vec![0; 16]), rec(3, 4, v4.clone())]),
            pcap_le(239, &[vec![2, 0, 0, 0, 8, 0, 9, 0, 0x45, 0, 0, 4]]),
            pcap_le(9, &[vec![0xff, 3, 0, 0x21, 0x45]]),
            ng,
            ng_be,
        ]
    }

    #[test]
    fn every_prefix_of_valid_files_is_handled() {
        for file in sample_files() {
            assert!(read_capture_bytes(&file).is_ok());
            for n in 0..file.len() {
                let _ = read_capture_bytes(&file[..n]);
            }
        }
    }

    #[test]
    fn deterministic_mutations_never_panic() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for file in sample_files() {
            for _ in 0..3000 {
                let mut m = file.clone();
                for _ in 0..(next() % 4 + 1) {
                    let i = (next() as usize) % m.len();
                    m[i] = next() as u8;
                }
                let _ = read_capture_bytes(&m);
            }
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = read_capture_bytes(&data);
            }

            #[test]
            fn random_bytes_behind_magic_never_panic(
                magic in prop::sample::select(vec![
                    [0xd4u8, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4],
                    [0x4d, 0x3c, 0xb2, 0xa1], [0xa1, 0xb2, 0x3c, 0x4d], [0x0a, 0x0d, 0x0d, 0x0a],
                ]),
                data in proptest::collection::vec(any::<u8>(), 0..512),
            ) {
                let mut f = magic.to_vec();
                f.extend_from_slice(&data);
                let _ = read_capture_bytes(&f);
            }

            #[test]
            fn mutated_valid_files_never_panic(
                which in 0usize..6,
                edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                cut in any::<usize>(),
            ) {
                let mut f = sample_files().swap_remove(which);
                for (pos, val) in edits {
                    let n = f.len();
                    f[pos % n] = val;
                }
                let n = f.len();
                let _ = read_capture_bytes(&f);
                let _ = read_capture_bytes(&f[..cut % (n + 1)]);
            }
        }
    }
}
