//! Entry points for the fuzz targets: the parsers, which are not public
//! API. Compiled only with `--cfg fuzzing` (set by `cargo fuzz`).

#[cfg(feature = "helper-ftp")]
pub use crate::helper::ftp::{Parsed as FtpParsed, parse as ftp_parse};
#[cfg(feature = "helper-sip")]
pub use crate::helper::sip::header::{Header as SipHeader, HeaderMatch as SipHeaderMatch, find_header};
#[cfg(feature = "helper-sip")]
pub use crate::helper::sip::sdp::parse_sdp;
