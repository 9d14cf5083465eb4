//! The built-in helpers: one table of names, helpers and standard ports.

use super::Helper;
#[allow(unused_imports)] // with no helper compiled in
use crate::tuple::{Family, proto};

/// A built-in helper, with the assignments Linux's helper modules make by
/// default (the ports of `nf_conntrack_ftp.c`, `nf_conntrack_tftp.c`,
/// `nf_conntrack_sip.c`, `nf_conntrack_snmp.c`,
/// `nf_conntrack_netbios_ns.c`, `nf_conntrack_irc.c`,
/// `nf_conntrack_amanda.c`, `nf_conntrack_sane.c`, `nf_conntrack_pptp.c`;
/// `snmp_trap` of `nf_nat_snmp_basic_main.c`).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Builtin {
    /// The Linux name (`ftp`, `sip`, ...).
    pub name: &'static str,
    /// The helper.
    pub helper: &'static dyn Helper,
    /// Standard assignments: (IP protocol, destination port).
    pub ports: &'static [(u8, u16)],
    /// Only this family (the broadcast helpers and IRC are IPv4-only).
    pub family: Option<Family>,
}

impl core::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Builtin").field("name", &self.name).field("ports", &self.ports).finish()
    }
}

/// The built-in helpers compiled in (each has a cargo feature:
/// `helper-ftp`, `helper-tftp`, `helper-sip`, `helper-snmp`,
/// `helper-netbios-ns`, `helper-irc`, `helper-amanda`, `helper-sane`,
/// `helper-pptp`).
pub const BUILTINS: &[Builtin] = &[
    #[cfg(feature = "helper-ftp")]
    Builtin { name: "ftp", helper: &super::ftp::FTP, ports: &[(proto::TCP, 21)], family: None },
    #[cfg(feature = "helper-tftp")]
    Builtin { name: "tftp", helper: &super::tftp::TFTP, ports: &[(proto::UDP, 69)], family: None },
    #[cfg(feature = "helper-sip")]
    Builtin {
        name: "sip",
        helper: &super::sip::SIP,
        ports: &[(proto::UDP, 5060), (proto::TCP, 5060)],
        family: None,
    },
    #[cfg(feature = "helper-snmp")]
    Builtin {
        name: "snmp",
        helper: &super::broadcast::SNMP,
        ports: &[(proto::UDP, 161)],
        family: Some(Family::Ipv4),
    },
    // Linux has it only with `nf_nat_snmp_basic`: the NAT of traps.
    #[cfg(feature = "helper-snmp")]
    Builtin {
        name: "snmp_trap",
        helper: &super::snmp::SNMP_TRAP,
        ports: &[(proto::UDP, 162)],
        family: Some(Family::Ipv4),
    },
    #[cfg(feature = "helper-netbios-ns")]
    Builtin {
        name: "netbios-ns",
        helper: &super::broadcast::NETBIOS_NS,
        ports: &[(proto::UDP, 137)],
        family: Some(Family::Ipv4),
    },
    #[cfg(feature = "helper-irc")]
    Builtin {
        name: "irc",
        helper: &super::irc::IRC,
        ports: &[(proto::TCP, 6667)],
        family: Some(Family::Ipv4),
    },
    #[cfg(feature = "helper-amanda")]
    Builtin { name: "amanda", helper: &super::amanda::AMANDA, ports: &[(proto::UDP, 10080)], family: None },
    #[cfg(feature = "helper-pptp")]
    Builtin {
        name: "pptp",
        helper: &super::pptp::PPTP,
        ports: &[(proto::TCP, super::pptp::PORT)],
        family: Some(Family::Ipv4),
    },
    #[cfg(feature = "helper-sane")]
    Builtin { name: "sane", helper: &super::sane::SANE, ports: &[(proto::TCP, 6566)], family: None },
];

/// The built-in helper of that Linux name, if compiled in.
///
/// ```
/// # #[cfg(feature = "helper-ftp")] {
/// let ftp = ctrack::helper::builtin("ftp").unwrap();
/// assert_eq!(ftp.ports, &[(6, 21)]);
/// assert_eq!(ftp.helper.name(), "ftp");
/// # }
/// assert!(ctrack::helper::builtin("h323").is_none());
/// ```
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

#[cfg(feature = "defmt")]
impl defmt::Format for Builtin {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Builtin({=str})", self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_helpers_names() {
        for b in BUILTINS {
            assert_eq!(b.helper.name(), b.name);
            assert!(!b.ports.is_empty());
        }
    }
}
