//! Entry points for the fuzz targets: the parsers, which are not public
//! API. Compiled only with `--cfg fuzzing` (set by `cargo fuzz`).

#[cfg(feature = "helper-amanda")]
pub use crate::helper::amanda::parse as amanda_parse;
#[cfg(feature = "helper-ftp")]
pub use crate::helper::ftp::{Parsed as FtpParsed, parse as ftp_parse};
#[cfg(feature = "helper-irc")]
pub use crate::helper::irc::parse as irc_parse;
#[cfg(feature = "helper-pptp")]
pub use crate::helper::pptp::{
    Master as PptpMaster, Message as PptpMessage, parse as pptp_parse, step as pptp_step,
};
#[cfg(feature = "helper-sane")]
pub use crate::helper::sane::{
    Request as SaneRequest, parse_reply as sane_parse_reply, parse_request as sane_parse_request,
};
#[cfg(feature = "helper-sip")]
pub use crate::helper::sip::header::{Header as SipHeader, HeaderMatch as SipHeaderMatch, find_header};
#[cfg(feature = "helper-sip")]
pub use crate::helper::sip::sdp::parse_sdp;

/// Whether the table's list of unused slots holds exactly its unused
/// slots, with links that agree both ways, and its count of used slots is
/// right (the fuzz targets check it after every step).
pub fn check_slots<S: crate::Storage>(table: &crate::ConnTable<S>) -> Result<(), &'static str> {
    table.check_slots()
}

/// One chunk of an SCTP packet, as [`sctp_parse`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpChunk {
    /// Chunk type.
    pub ty: u8,
    /// Chunk flags.
    pub flags: u8,
    /// The chunk's length field.
    pub len: u16,
    /// The Initiate Tag, if the 16-byte INIT header is in the packet.
    pub init_tag: Option<u32>,
}

/// The SCTP header checks and chunk walk (`crate::wire::sctp`) on the
/// layer-4 bytes `l4`: the verification tag and each chunk in order, or why
/// the packet is INVALID.
pub fn sctp_parse(
    l4: &[u8],
    verify_checksum: bool,
    mut each: impl FnMut(SctpChunk),
) -> Result<u32, crate::Reason> {
    let p = crate::wire::sctp::Packet::parse(l4, verify_checksum)?;
    for c in p.chunks() {
        each(SctpChunk { ty: c.ty, flags: c.flags, len: c.len, init_tag: c.init_tag() });
    }
    Ok(p.vtag())
}

/// The CRC32c the SCTP checksum field must hold, for `l4` with that field
/// (bytes 8..12) taken as zero.
pub fn sctp_crc32c(l4: &[u8]) -> u32 {
    let mut zeroed = [0u8; 12];
    let head = l4.get(..12).unwrap_or(l4);
    zeroed[..head.len()].copy_from_slice(head);
    zeroed[8..12].fill(0);
    crate::wire::sctp::crc32c_parts(&zeroed[..head.len()], l4.get(12..).unwrap_or(&[]))
}
