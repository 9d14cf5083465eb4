//! SNMP's trap helper and SNMP's NAT (`nf_nat_snmp_basic_main.c`).
//!
//! The `snmp_trap` helper (UDP 162, IPv4) expects nothing: it exists for
//! its NAT part, as Linux registers it only with `nf_nat_snmp_basic`. The
//! NAT part (feature `nat-helpers`) is shared with the `snmp` helper (UDP
//! 161, `broadcast.rs`): the IPv4 addresses an SNMP v1 or v2c message
//! carries as values (`IpAddress`, RFC 2578 § 7.1.5) are rewritten from the
//! inside host's address to the public one.
//!
//! Linux decodes the message with the kernel's BER decoder
//! (`lib/asn1_decoder.c`) running the state machine its ASN.1 compiler
//! (`scripts/asn1_compiler.c`) makes of `nf_nat_snmp_basic.asn1`; an
//! `IpAddress` value equal to the address is replaced as it is met, and a
//! message the machine refuses is dropped. What the machine accepts is not
//! plain BER: a CHOICE whose alternatives are OPTIONAL types tries them
//! one after the other, some alternatives again after a match, so a
//! `VarBind` with no value passes and one with two values may (an
//! `IpAddress` then a `NULL`: yes; an `IpAddress` then another: no); the
//! v1 `Trap-PDU` (`[4]`) is not in the grammar at all ("obsolete"), so a
//! v1 trap through a translated connection is dropped. To give the same
//! verdicts on any bytes, this module runs the same machine: `PROGRAM`
//! is the grammar's machine, written out op by op (the reasoning for each
//! op is beside it), and `decode` executes it with the decoder's rules
//! (tags of one byte, lengths of at most two bytes, indefinite lengths for
//! constructed values only, the checks of a constructed value's end).
//! `tests/data/nat/snmp-*.json` hold what the kernel did to messages of
//! every kind, and `tests/nat_parity.rs` replays them.

use super::{Helper, HelperContext};
use crate::expect::ExpectPolicy;
use crate::reason::HelperDrop;

/// The `snmp_trap` helper.
pub struct SnmpTrap;

/// The `snmp_trap` helper: with feature `nat-helpers`, the NAT of the
/// traps' addresses; nothing otherwise.
pub static SNMP_TRAP: SnmpTrap = SnmpTrap;

impl Helper for SnmpTrap {
    fn name(&self) -> &'static str {
        "snmp_trap"
    }

    /// `snmp_exp_policy`: no expectation, 180 s.
    fn policy(&self, _class: u8) -> ExpectPolicy {
        ExpectPolicy::new(1, 180)
    }

    fn help(&self, _cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        #[cfg(feature = "nat-helpers")]
        return nat::help(_cx);
        #[cfg(not(feature = "nat-helpers"))]
        Ok(())
    }
}

#[cfg(feature = "nat-helpers")]
pub(crate) mod nat {
    use super::super::HelperContext;
    use crate::reason::HelperDrop;
    use crate::tuple::{Direction, Family};

    /// SNMP's port and the trap port (`SNMP_PORT`, `SNMP_TRAP_PORT`).
    const SNMP_PORT: u16 = 161;
    const SNMP_TRAP_PORT: u16 = 162;

    /// What a matched value is handed to.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Act {
        None,
        /// `snmp_version()`: one byte, 0 (v1) or 1 (v2c).
        Version,
        /// `snmp_helper()`: an `IpAddress`, 4 bytes, replaced if it is the
        /// inside address.
        Address,
    }

    /// One op of the decoder's machine (`asn1_ber_bytecode.h`'s kinds, as
    /// far as this grammar uses them).
    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// Match a value of tag `tag`: `cond` skips the op once an earlier
        /// op of the same choice matched (`COND_`); `skip` lets a value of
        /// another tag, or none, pass to the next op (`_OR_SKIP`); `jump`
        /// runs the ops from there, up to a `Return`, on the matched
        /// constructed value (`_JUMP`).
        Match {
            tag: u8,
            cond: bool,
            skip: bool,
            act: Act,
            jump: Option<u8>,
        },
        /// Fail unless the last op matched (`COND_FAIL`, the end of a choice
        /// whose alternatives are all skippable).
        CondFail,
        /// The end of a constructed value: its content must be used up
        /// (`END_SEQ`); for `EndSeqOf`, unless another element follows,
        /// which is then matched from the op it names (`END_SEQ_OF`).
        EndSeq,
        EndSeqOf(u8),
        Return,
        Complete,
    }

    const fn m(tag: u8, cond: bool, skip: bool, act: Act) -> Op {
        Op::Match { tag, cond, skip, act, jump: None }
    }

    /// A `[n] IMPLICIT PDU OPTIONAL` alternative of `PDUs`: matched, then
    /// the shared `PDU` ops run on it. (The compiler passes each alternative
    /// the flags of its type definition, not of its place in the choice: none
    /// is conditional, so after a PDU the later alternatives are tried again
    /// on what follows it.)
    const fn pdu(n: u8) -> Op {
        Op::Match { tag: 0xa0 | n, cond: false, skip: true, act: Act::None, jump: Some(PDU) }
    }

    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    const NULL: u8 = 0x05;
    const OID: u8 = 0x06;
    /// Where the `PDU` ops start, and the `VarBind` ops in them.
    const PDU: u8 = 14;
    const VAR_BIND: u8 = 18;

    /// The machine of `nf_nat_snmp_basic.asn1`.
    const PROGRAM: [Op; 38] = [
        // Message ::= SEQUENCE { version INTEGER ({snmp_version}),
        //                        community OCTET STRING, pdu PDUs }
        m(SEQUENCE, false, false, Act::None),
        m(INTEGER, false, false, Act::Version),
        m(OCTET_STRING, false, false, Act::None),
        // PDUs ::= CHOICE { get-request, get-next-request, get-bulk-request,
        // response, set-request, inform-request, snmpV2-trap, report }, in
        // that order; [4] is left out. Not optional itself: COND_FAIL.
        pdu(0),
        pdu(1),
        pdu(5),
        pdu(2),
        pdu(3),
        pdu(6),
        pdu(7),
        pdu(8),
        Op::CondFail,
        Op::EndSeq,
        Op::Complete,
        // 14: PDU ::= SEQUENCE { request-id INTEGER, error-status INTEGER,
        //                        error-index INTEGER,
        //                        variable-bindings VarBindList }, out of line
        // (eight references).
        m(INTEGER, false, false, Act::None),
        m(INTEGER, false, false, Act::None),
        m(INTEGER, false, false, Act::None),
        // VarBindList ::= SEQUENCE OF VarBind
        m(SEQUENCE, false, false, Act::None),
        // 18: VarBind ::= SEQUENCE { name ObjectName, CHOICE { value
        //     ObjectSyntax, unSpecified NULL, noSuchObject [0] IMPLICIT NULL,
        //     noSuchInstance [1] ..., endOfMibView [2] ... } }
        m(SEQUENCE, false, false, Act::None),
        m(OID, false, false, Act::None),
        // value ObjectSyntax ::= CHOICE { SimpleSyntax, ApplicationSyntax },
        // both choices of OPTIONAL types, rendered in place with no COND_FAIL:
        // SimpleSyntax's first alternative unconditional, the others
        // conditional;
        m(INTEGER, false, true, Act::None),
        m(OCTET_STRING, true, true, Act::None),
        m(OID, true, true, Act::None),
        // ApplicationSyntax's, each a tagged type of its own whose
        // definition (not the choice) gives the flags: skippable, never
        // conditional. IpAddress [APPLICATION 0], Counter32 [1],
        // TimeTicks [3], Opaque [4], Counter64 [6], Unsigned32 [2].
        m(0x40, false, true, Act::Address),
        m(0x41, false, true, Act::None),
        m(0x43, false, true, Act::None),
        m(0x44, false, true, Act::None),
        m(0x46, false, true, Act::None),
        m(0x42, false, true, Act::None),
        // The VarBind choice's other alternatives, conditional; the choice
        // is not optional: COND_FAIL.
        m(NULL, true, true, Act::None),
        m(0x80, true, true, Act::None),
        m(0x81, true, true, Act::None),
        m(0x82, true, true, Act::None),
        Op::CondFail,
        Op::EndSeq,
        Op::EndSeqOf(VAR_BIND),
        // The end of the PDU's SEQUENCE, and back.
        Op::EndSeq,
        Op::Return,
    ];

    /// Deepest nesting the machine reaches (Message, PDU, VarBindList,
    /// VarBind); the decoder's stacks hold 10.
    const DEPTH: usize = 4;

    /// Run [`PROGRAM`] over `data` (a UDP payload); `found` gets the offset
    /// of each `IpAddress` value equal to `from`. Err: the decoder refuses the
    /// message (Linux drops it).
    fn decode(data: &[u8], from: [u8; 4], found: &mut dyn FnMut(usize)) -> Result<(), ()> {
        // The constructed values open: for each, the end of the value
        // around it (`None`: it has an indefinite length and ends at its
        // end-of-contents octets).
        let mut cons: [Option<usize>; DEPTH] = [None; DEPTH];
        let mut csp = 0;
        let mut ret: [usize; DEPTH] = [0; DEPTH];
        let mut jsp = 0;
        let (mut pc, mut dp, mut end) = (0usize, 0usize, data.len());
        // Whether the last op that looked at a value matched it (the
        // decoder's FLAG_MATCHED: cleared when an op looks at a value and it
        // does not match, kept when an op is skipped without looking).
        let mut matched = false;
        loop {
            match *PROGRAM.get(pc).ok_or(())? {
                Op::Match { tag: want, cond, skip, act, jump } => {
                    if (cond && matched) || (skip && dp == end) {
                        pc += 1;
                        continue;
                    }
                    matched = false;
                    if end - dp < 2 {
                        return Err(());
                    }
                    let tag = data[dp];
                    dp += 1;
                    if tag & 0x1f == 0x1f {
                        // Tags of more than one byte are not supported.
                        return Err(());
                    }
                    let constructed = want & 0x20 != 0;
                    // A constructed op takes either form of its tag.
                    if (want ^ tag) & !(want & 0x20) != 0 {
                        if skip {
                            dp -= 1;
                            pc += 1;
                            continue;
                        }
                        return Err(());
                    }
                    matched = true;
                    let first = data[dp];
                    dp += 1;
                    let mut indefinite = false;
                    let mut len = usize::from(first);
                    if first == 0x80 {
                        if tag & 0x20 == 0 || end - dp < 2 {
                            return Err(());
                        }
                        indefinite = true;
                    } else if first > 0x80 {
                        let n = usize::from(first - 0x80);
                        if n > 2 || n > end - dp {
                            return Err(());
                        }
                        len = data[dp..dp + n].iter().fold(0, |l, &b| l << 8 | usize::from(b));
                        dp += n;
                    }
                    if !indefinite && len > end - dp {
                        return Err(());
                    }
                    if constructed {
                        if csp == DEPTH {
                            return Err(());
                        }
                        cons[csp] = if indefinite { None } else { Some(end) };
                        csp += 1;
                        if !indefinite {
                            end = dp + len;
                        }
                        if let Some(to) = jump {
                            if jsp == DEPTH {
                                return Err(());
                            }
                            ret[jsp] = pc + 1;
                            jsp += 1;
                            pc = usize::from(to);
                            continue;
                        }
                    } else {
                        match act {
                            Act::None => {}
                            Act::Version if len == 1 && data[dp] <= 1 => {}
                            Act::Version => return Err(()),
                            Act::Address if len != 4 => return Err(()),
                            Act::Address => {
                                if data[dp..dp + 4] == from {
                                    found(dp);
                                }
                            }
                        }
                        dp += len;
                    }
                    pc += 1;
                }
                Op::CondFail => {
                    if !matched {
                        return Err(());
                    }
                    pc += 1;
                }
                op @ (Op::EndSeq | Op::EndSeqOf(_)) => {
                    let again = if let Op::EndSeqOf(at) = op { Some(usize::from(at)) } else { None };
                    csp = csp.checked_sub(1).ok_or(())?;
                    match cons[csp] {
                        None => {
                            // Indefinite: the end-of-contents octets, unless
                            // another element of a SEQUENCE OF starts here.
                            if end - dp < 2 {
                                return Err(());
                            }
                            if data[dp] != 0 {
                                let Some(at) = again else { return Err(()) };
                                csp += 1;
                                pc = at;
                                continue;
                            }
                            if data[dp + 1] != 0 {
                                return Err(());
                            }
                            dp += 2;
                        }
                        Some(outer) => {
                            if dp < end
                                && let Some(at) = again
                            {
                                csp += 1;
                                pc = at;
                                continue;
                            }
                            if dp != end {
                                return Err(());
                            }
                            end = outer;
                        }
                    }
                    pc += 1;
                }
                Op::Return => {
                    jsp = jsp.checked_sub(1).ok_or(())?;
                    pc = ret[jsp];
                }
                // Bytes after the message are not looked at.
                Op::Complete => return if jsp == 0 && csp == 0 { Ok(()) } else { Err(()) },
            }
        }
    }

    /// `nf_nat_snmp_basic_main.c: help()` for a packet of a connection with
    /// the `snmp` or `snmp_trap` helper: if the connection is translated, the
    /// inside address in the message's `IpAddress` values becomes the public
    /// one (`snmp_translate()`), and a message the decoder refuses, or whose
    /// UDP length is not its IP payload's, is dropped.
    pub(crate) fn help(cx: &mut HelperContext<'_>) -> Result<(), HelperDrop> {
        if !cx.is_translated() || cx.orig.family() != Family::Ipv4 {
            return Ok(());
        }
        let dir = cx.dir();
        // The packet's ports once translated (Linux's helpers run after NAT):
        // the other direction's tuple, inverted.
        let other = cx.tuple(dir.opposite());
        let (Some(sport), Some(dport)) = (other.dport(), other.sport()) else { return Ok(()) };
        // Only answers from the SNMP port, and only traps to the trap port.
        if (sport == SNMP_PORT && dir != Direction::Reply)
            || (dport == SNMP_TRAP_PORT && dir != Direction::Original)
        {
            return Ok(());
        }
        if cx.payload().len() + 8 != cx.l4_len {
            return Err(HelperDrop("dropping malformed packet"));
        }
        // Either way round, the original source becomes the reply tuple's
        // destination (for source NAT: the inside address, the public one).
        let (core::net::IpAddr::V4(from), core::net::IpAddr::V4(to)) = (cx.orig.src(), cx.reply.dst()) else {
            return Ok(());
        };
        if from == to {
            return Ok(());
        }
        let payload = cx.payload();
        let mut ok = true;
        decode(payload, from.octets(), &mut |off| ok &= cx.mangle(off, 4, &to.octets()))
            .map_err(|()| HelperDrop("parser failed"))?;
        if ok { Ok(()) } else { Err(HelperDrop("cannot mangle packet")) }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const INSIDE: [u8; 4] = [10, 0, 0, 5];

        /// The offsets `decode` reports, or `None` if it refuses.
        fn run(data: &[u8]) -> Option<std::vec::Vec<usize>> {
            let mut at = std::vec::Vec::new();
            decode(data, INSIDE, &mut |o| at.push(o)).ok().map(|()| at)
        }

        fn tlv(tag: u8, body: &[u8]) -> std::vec::Vec<u8> {
            let mut v = std::vec![tag, body.len() as u8];
            v.extend_from_slice(body);
            v
        }

        /// A v2c message with PDU tag `pdu` and one VarBind per value.
        fn message(pdu: u8, values: &[&[u8]]) -> std::vec::Vec<u8> {
            let mut vbs = std::vec::Vec::new();
            for v in values {
                let mut vb = tlv(OID, &[0x2b, 6]);
                vb.extend_from_slice(v);
                vbs.extend(tlv(SEQUENCE, &vb));
            }
            let mut p = std::vec![2, 1, 7, 2, 1, 0, 2, 1, 0];
            p.extend(tlv(SEQUENCE, &vbs));
            let mut m = std::vec![2, 1, 1, 4, 1, b'p'];
            m.extend(tlv(pdu, &p));
            tlv(SEQUENCE, &m)
        }

        const IP: &[u8] = &[0x40, 4, 10, 0, 0, 5];

        #[test]
        fn addresses_in_values_are_found() {
            let m = message(0xa2, &[IP, &[0x40, 4, 10, 0, 0, 6], IP]);
            let found = run(&m).unwrap();
            assert_eq!(found.len(), 2);
            for o in found {
                assert_eq!(m[o..o + 4], INSIDE);
            }
            // Inside an OCTET STRING it is not an address.
            assert_eq!(run(&message(0xa3, &[&[4, 4, 10, 0, 0, 5]])), Some(std::vec![]));
        }

        #[test]
        fn the_machine_is_the_kernels() {
            // Each as Linux 6.18 decided (tests/data/nat/snmp-*.json).
            // A v1 trap: not in the grammar.
            assert_eq!(run(&message(0xa4, &[IP])), None);
            // No VarBind at all: the SEQUENCE OF needs one.
            assert_eq!(run(&message(0xa0, &[])), None);
            // A VarBind without a value, with an address then a NULL: taken.
            assert_eq!(run(&message(0xa3, &[b""])), Some(std::vec![]));
            assert!(run(&message(0xa3, &[&[0x40, 4, 10, 0, 0, 5, 5, 0]])).is_some());
            // Two addresses in one VarBind, or a NULL then an address: not.
            assert_eq!(run(&message(0xa3, &[&[0x40, 4, 10, 0, 0, 5, 0x40, 4, 1, 2, 3, 4]])), None);
            assert_eq!(run(&message(0xa3, &[&[5, 0, 0x40, 4, 10, 0, 0, 5]])), None);
            // An INTEGER then an address: the address is still looked at.
            assert_eq!(run(&message(0xa3, &[&[2, 1, 0, 0x40, 4, 10, 0, 0, 5]])).map(|f| f.len()), Some(1));
            // Addresses of 3 and 5 bytes, a tag of two bytes, [3].
            assert_eq!(run(&message(0xa3, &[&[0x40, 3, 10, 0, 0]])), None);
            assert_eq!(run(&message(0xa3, &[&[0x40, 5, 10, 0, 0, 5, 0]])), None);
            assert_eq!(run(&message(0xa3, &[&[0x5f, 0x20, 1, 0]])), None);
            assert_eq!(run(&message(0xa3, &[&[0x83, 0]])), None);
            // Versions 2 and 3, and one of two bytes.
            let mut m = message(0xa3, &[IP]);
            m[4] = 3;
            assert_eq!(run(&m), None);
            m[4] = 2;
            assert_eq!(run(&m), None);
            // Bytes after the message are not looked at; inside it they are.
            let mut m = message(0xa3, &[IP]);
            m.extend_from_slice(&[0, 0]);
            assert!(run(&m).is_some());
            assert_eq!(run(&[]), None);
            assert_eq!(run(b"hello"), None);
            // Cut short anywhere: refused, never a panic.
            let m = message(0xa2, &[IP, &[0x43, 1, 0]]);
            for cut in 0..m.len() {
                assert_eq!(run(&m[..cut]), None, "{cut}");
            }
        }

        proptest::proptest! {
            /// Any bytes, and a message with any bytes changed, cut or
            /// lengthened: a verdict, never a panic, and only offsets of
            /// the address.
            #[test]
            fn any_bytes_decode_or_not(
                noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
                edits in proptest::collection::vec((0usize..64, proptest::prelude::any::<u8>()), 0..4),
                cut in 0usize..80,
            ) {
                let mut m = message(0xa2, &[IP, &[0x43, 1, 0], IP]);
                for (at, b) in edits {
                    let i = at % m.len();
                    m[i] = b;
                }
                m.truncate(cut.max(1));
                m.extend_from_slice(&noise[..noise.len() / 4]);
                for data in [&m[..], &noise[..]] {
                    let mut found = std::vec::Vec::new();
                    if decode(data, INSIDE, &mut |o| found.push(o)).is_ok() {
                        for o in found {
                            proptest::prop_assert_eq!(&data[o..o + 4], &INSIDE[..]);
                        }
                    }
                }
            }
        }

        #[test]
        fn lengths_as_the_kernel_reads_them() {
            // A long form of one or two bytes (leading zeros too); of four, no.
            let mut m = message(0xa3, &[IP]);
            // The community's length 1 as 0x81 0x01.
            m.splice(6..7, [0x81, 0x01]);
            m[1] += 1;
            assert!(run(&m).is_some());
            m.splice(6..8, [0x82, 0x00, 0x01]);
            m[1] += 1;
            assert!(run(&m).is_some());
            m.splice(6..9, [0x84, 0, 0, 0, 1]);
            m[1] += 2;
            assert_eq!(run(&m), None);
            // Indefinite lengths: the VarBindList's, yes; an address's, no;
            // the message's, no (what follows the PDU must be another PDU).
            let mut vb = tlv(OID, &[0x2b, 6]);
            vb.extend_from_slice(IP);
            let mut p = std::vec![2, 1, 7, 2, 1, 0, 2, 1, 0, 0x30, 0x80];
            p.extend(tlv(SEQUENCE, &vb));
            p.extend_from_slice(&[0, 0]);
            let mut body = std::vec![2, 1, 1, 4, 1, b'p'];
            body.extend(tlv(0xa3, &p));
            assert_eq!(run(&tlv(SEQUENCE, &body)).map(|f| f.len()), Some(1));
            let mut outer = std::vec![0x30, 0x80];
            outer.extend_from_slice(&body);
            outer.extend_from_slice(&[0, 0]);
            assert_eq!(run(&outer), None);
            assert_eq!(run(&message(0xa3, &[&[0x40, 0x80, 10, 0, 0, 5, 0, 0]])), None);
        }
    }
}
