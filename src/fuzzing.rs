//! Entry points for the fuzz targets: the parsers, which are not public
//! API. Compiled only with `--cfg fuzzing` (set by `cargo fuzz`).

#[cfg(feature = "helper-amanda")]
pub use crate::helper::amanda::parse as amanda_parse;
#[cfg(feature = "helper-ftp")]
pub use crate::helper::ftp::{Parsed as FtpParsed, parse as ftp_parse};
#[cfg(feature = "helper-irc")]
pub use crate::helper::irc::parse as irc_parse;
#[cfg(feature = "helper-sane")]
pub use crate::helper::sane::{
    Request as SaneRequest, parse_reply as sane_parse_reply, parse_request as sane_parse_request,
};
#[cfg(feature = "helper-sip")]
pub use crate::helper::sip::header::{Header as SipHeader, HeaderMatch as SipHeaderMatch, find_header};
#[cfg(feature = "helper-sip")]
pub use crate::helper::sip::sdp::parse_sdp;
