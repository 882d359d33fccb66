//! nmap's U1 test: the port unreachable a closed UDP port sends back, and what it
//! made of the datagram it quotes, each quoted field against the probe as sent
//! (`G` where it is as sent), as nmap 7.93's `processTUdpResp` reads it; and the hop
//! count, from the TTL the quote came back with.

use super::{yes_no, Datagram, Reading};
use crate::packet::checksum::{add_bytes, finish};
use crate::packet::wire::{icmp, ipv4, udp};
use scanner_common::wire::{IPPROTO_ICMP, IPPROTO_UDP};

const ICMP_DEST_UNREACHABLE: u8 = 3;
const ICMP_PORT_UNREACHABLE: u8 = 3;

/// The fields of the UDP probe that its quote is compared with.
#[derive(Clone, Copy, Debug)]
pub(super) struct UdpProbe {
    ttl: u8,
    ip_id: u16,
    total_len: u16,
    src_port: u16,
    dst_port: u16,
    checksum: u16,
    /// The byte the payload repeats (nmap's 'C'), `None` without a payload.
    fill: Option<u8>,
}

impl UdpProbe {
    pub(super) fn read(sent: &[u8]) -> Option<Self> {
        let datagram = Datagram::read(sent)?;
        if !datagram.is(IPPROTO_UDP) {
            return None;
        }
        let udp = udp::Packet::new_fixed_checked(datagram.payload).ok()?;
        Some(Self {
            ttl: datagram.ip.ttl(),
            ip_id: datagram.ip.ident(),
            total_len: datagram.ip.total_len(),
            src_port: udp.src_port(),
            dst_port: udp.dst_port(),
            checksum: udp.checksum(),
            fill: datagram.payload.get(udp::HEADER_LEN).copied(),
        })
    }
}

/// The U1 test of a reply to `probe`, and the hop count it measures (the probe's TTL
/// less the quote's, plus one); `None` unless the reply is a port unreachable quoting
/// the probe's ports.
pub(super) fn u1_test(reply: &Datagram, probe: &UdpProbe) -> Option<(Reading, i32)> {
    if !reply.is(IPPROTO_ICMP) {
        return None;
    }
    let message = icmp::Packet::new_checked(reply.payload).ok()?;
    if message.msg_type() != ICMP_DEST_UNREACHABLE || message.code() != ICMP_PORT_UNREACHABLE {
        return None;
    }
    let quoted = message.quoted()?;
    let port = |at: usize| u16::from_be_bytes([quoted.head[at], quoted.head[at + 1]]);
    if port(0) != probe.src_port || port(2) != probe.dst_port {
        return None;
    }
    let mut reading = Reading::answered("U1", reply.ip.ttl());
    let test = &mut reading.test;
    test.set("DF", yes_no(reply.dont_fragment()));
    test.set("IPL", format!("{:X}", reply.ip.total_len()));
    // UN: the error's unused word; nmap prints it with `%hX`, its low 16 bits.
    test.set("UN", format!("{:X}", message.seq_no()));
    test.set("RIPL", as_sent(quoted.ip.total_len(), probe.total_len));
    test.set("RID", as_sent(quoted.ip.ident(), probe.ip_id));
    test.set("RIPCK", quoted_checksum(&quoted.ip));
    test.set("RUCK", as_sent(port(6), probe.checksum));
    test.set(
        "RUD",
        quoted_data(message.payload(), quoted.ip.header_len(), probe.fill),
    );
    let hops = i32::from(probe.ttl) - i32::from(quoted.ip.ttl()) + 1;
    Some((reading, hops))
}

/// `G` if a quoted field is as sent, else its value in hex.
fn as_sent(quoted: u16, sent: u16) -> String {
    if quoted == sent {
        "G".into()
    } else {
        format!("{quoted:X}")
    }
}

/// RIPCK: `Z` for a zero checksum, `G` if the quoted header's first 20 bytes sum to
/// it (the header as quoted, TTL and all), `I` if not.
fn quoted_checksum(quoted: &ipv4::Packet<&[u8]>) -> &'static str {
    let stored = quoted.checksum();
    if stored == 0 {
        return "Z";
    }
    let mut header = [0u8; ipv4::HEADER_LEN];
    header.copy_from_slice(&quoted.into_inner()[..ipv4::HEADER_LEN]);
    header[ipv4::field::CHECKSUM].fill(0);
    if finish(add_bytes(0, &header)) == stored {
        "G"
    } else {
        "I"
    }
}

/// RUD: `G` if every byte of data quoted after the UDP header is the probe's fill
/// byte (or none was quoted), `I` if one is not. Only the bytes the capture holds are
/// looked at (nmap looks up to the error's end).
fn quoted_data(quote: &[u8], quoted_header_len: usize, fill: Option<u8>) -> &'static str {
    let data = quote
        .get(quoted_header_len + udp::HEADER_LEN..)
        .unwrap_or_default();
    if data.iter().all(|&byte| Some(byte) == fill) {
        "G"
    } else {
        "I"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::build;
    use crate::packet::craft;
    use crate::packet::template::LinkAddrs;
    use std::net::Ipv4Addr;

    /// nmap's U1 probe: 300 bytes of 'C', IP ID 0x1042, TTL 53.
    fn probe() -> Vec<u8> {
        let link = LinkAddrs {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
        };
        let mut buf = [0u8; 400];
        let len = build::udp_probe(
            &mut buf,
            &link,
            Ipv4Addr::new(198, 18, 0, 10),
            50655,
            33095,
            &[0x43; 300],
            0x1042,
        );
        let mut frame = buf[..len].to_vec();
        set_ttl(&mut frame, 53);
        frame
    }

    /// Sets the TTL of a frame's IPv4 header, and its checksum.
    fn set_ttl(frame: &mut [u8], ttl: u8) {
        let mut ip = ipv4::Packet::new_unchecked(&mut frame[14..]);
        ip.set_ttl(ttl);
        ip.fill_checksum();
    }

    /// The port unreachable a host `hops` away sends about `probe`, quoting all of it
    /// (its TTL spent on the way), with `edit` applied to the quote.
    fn unreachable(probe: &[u8], hops: u8, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut arrived = probe.to_vec();
        set_ttl(&mut arrived, probe[14 + 8] - (hops - 1));
        let mut error = craft::icmp_error_about(&arrived, 3, 3, [198, 18, 0, 10], 308);
        edit(&mut error[14 + 20 + 8..]);
        error
    }

    fn u1(frame: &[u8]) -> Option<(String, i32)> {
        let probe = UdpProbe::read(&probe()).unwrap();
        let (reading, hops) = u1_test(&Datagram::read(frame)?, &probe)?;
        Some((reading.test.to_string(), hops))
    }

    #[test]
    fn a_faithful_quote_is_good_everywhere() {
        let (test, hops) = u1(&unreachable(&probe(), 1, |_| {})).unwrap();
        // 20 + 8 + 328 bytes; craft's error has no DF.
        assert_eq!(
            test,
            "U1(R=Y%DF=N%IPL=164%UN=0%RIPL=G%RID=G%RIPCK=G%RUCK=G%RUD=G)"
        );
        assert_eq!(hops, 1);
        let (_, hops) = u1(&unreachable(&probe(), 2, |_| {})).unwrap();
        assert_eq!(hops, 2);
    }

    #[test]
    fn what_the_host_changed_is_shown() {
        let (test, _) = u1(&unreachable(&probe(), 1, |quote| {
            quote[2..4].copy_from_slice(&[0x01, 0x50]); // IP length 0x150
            quote[4..6].copy_from_slice(&[0x42, 0x10]); // IP ID byte-swapped
            quote[20 + 6..20 + 8].copy_from_slice(&[0, 0]); // UDP checksum zeroed
            quote[20 + 8 + 5] = 0; // one data byte
        }))
        .unwrap();
        // The header changed under its checksum: I.
        assert_eq!(
            test,
            "U1(R=Y%DF=N%IPL=164%UN=0%RIPL=150%RID=4210%RIPCK=I%RUCK=0%RUD=I)"
        );
        let (test, _) = u1(&unreachable(&probe(), 1, |quote| {
            quote[10..12].copy_from_slice(&[0, 0]);
        }))
        .unwrap();
        assert!(test.contains("%RIPCK=Z%"), "{test}");
    }

    #[test]
    fn the_unused_word_and_a_short_quote() {
        let mut frame = unreachable(&probe(), 1, |_| {});
        frame[14 + 20 + 4..14 + 20 + 8].copy_from_slice(&[0xab, 0xcd, 0x12, 0x34]);
        let (test, _) = u1(&frame).unwrap();
        assert!(test.contains("%UN=1234%"), "{test}");
        // A quote of the headers only: no data to be wrong (IPL 20 + 8 + 28 = 0x38).
        let error = craft::icmp_error_about(&probe(), 3, 3, [198, 18, 0, 10], 8);
        let (test, _) = u1(&error).unwrap();
        assert!(
            test.ends_with("IPL=38%UN=0%RIPL=G%RID=G%RIPCK=G%RUCK=G%RUD=G)"),
            "{test}"
        );
        // Cut by the capture: what is held is checked.
        let mut cut = unreachable(&probe(), 1, |_| {});
        cut.truncate(256);
        assert!(u1(&cut).unwrap().0.ends_with("RUD=G)"));
    }

    #[test]
    fn only_a_port_unreachable_about_the_probe_counts() {
        let other_code = craft::icmp_error_about(&probe(), 3, 1, [198, 18, 0, 10], 308);
        assert_eq!(u1(&other_code), None);
        let mut other_port = probe();
        craft::set_dst_port(&mut other_port, 33096);
        assert_eq!(u1(&unreachable(&other_port, 1, |_| {})), None);
    }
}
