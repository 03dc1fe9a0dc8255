//! Address classification: which IP addresses are not the public internet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Rule;

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), SIIT-translated
/// (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4
/// (`2002:aabb:ccdd::/48`) IPv6 address: where a connection to it ends up.
pub(crate) fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    let tail = v4(s[6], s[7]);
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(v4(s[1], s[2]));
    }
    // IPv4-compatible (deprecated): all-zero prefix, but not :: or ::1.
    (s[..6] == [0, 0, 0, 0, 0, 0] && u32::from(tail) > 1).then_some(tail)
}

/// The rule that refuses `ip` when only public addresses are allowed; `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<Rule> {
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Rule> {
    let [a, b, c, _] = ip.octets();
    Some(if ip.is_unspecified() || a == 0 {
        Rule::Unspecified
    } else if ip.is_loopback() {
        Rule::Loopback
    } else if ip.is_private() {
        Rule::Private
    } else if ip.is_link_local() {
        Rule::LinkLocal
    } else if a == 100 && (64..128).contains(&b) {
        Rule::SharedAddress
    } else if ip.is_broadcast() {
        Rule::Broadcast
    } else if ip.is_multicast() {
        Rule::Multicast
    } else if ip.is_documentation() {
        Rule::Documentation
    } else if a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 88 && c == 99)
    {
        Rule::Reserved
    } else {
        return None;
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Rule> {
    let s = ip.segments();
    Some(if ip.is_unspecified() {
        Rule::Unspecified
    } else if ip.is_loopback() {
        Rule::Loopback
    } else if ip.is_unique_local() || (s[0] & 0xffc0) == 0xfec0 || s[..3] == [0x64, 0xff9b, 1] {
        // ULA, site-local (deprecated), local-use NAT64 (RFC 8215: translates into the operator's
        // own IPv4 space, so the embedded address cannot be trusted to be the destination).
        Rule::Private
    } else if ip.is_unicast_link_local() {
        Rule::LinkLocal
    } else if ip.is_multicast() {
        Rule::Multicast
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000) {
        // 2001:db8::/32 and 3fff::/20 (RFC 9637).
        Rule::Documentation
    } else if (s[0] & 0xe000) != 0x2000 {
        // Only 2000::/3 is allocated global unicast (this covers 100::/64, discard-only); the
        // special forms outside it that reach somewhere were judged above.
        Rule::Reserved
    } else {
        return None;
    })
}
