//! What a UDP probe carries, by destination port. A UDP service only answers a
//! datagram it understands, and an empty one (what is sent to every other port) gets
//! silence from most: so the well-known services get a request they answer. These
//! payloads are written here from the protocols' specifications.
//!
//! Each request is harmless: a query for the server's own version or status, never a
//! write or an amplification request.

/// The payload for a probe to `port`: a protocol request for well-known services,
/// empty otherwise.
pub fn for_port(port: u16) -> &'static [u8] {
    match port {
        53 => DNS_VERSION_BIND,
        69 => TFTP_READ,
        111 => RPC_PORTMAP_NULL,
        123 => NTP_CLIENT,
        137 => NETBIOS_NODE_STATUS,
        161 => SNMP_V1_GET_SYSDESCR,
        1900 => SSDP_SEARCH,
        5060 => SIP_OPTIONS,
        5353 => MDNS_SERVICES,
        11211 => MEMCACHED_VERSION,
        _ => &[],
    }
}

/// The ports that have a payload of their own.
pub const PORTS_WITH_PAYLOADS: [u16; 10] = [53, 69, 111, 123, 137, 161, 1900, 5060, 5353, 11211];

/// DNS (RFC 1035): a recursive query for `version.bind` TXT in the CHAOS class, which
/// BIND, dnsmasq, unbound and others answer (with the version or a refusal).
const DNS_VERSION_BIND: &[u8] = &[
    0x5c, 0x4e, // id
    0x01, 0x00, // flags: recursion desired
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // one question
    7, b'v', b'e', b'r', b's', b'i', b'o', b'n', 4, b'b', b'i', b'n', b'd', 0, //
    0x00, 0x10, // TXT
    0x00, 0x03, // CHAOS
];

/// TFTP (RFC 1350): a read request for a file no server has; servers answer with an
/// error packet.
const TFTP_READ: &[u8] = b"\x00\x01scanner-probe\x00octet\x00";

/// ONC RPC (RFC 5531): a NULL call to the portmapper (program 100000, version 2).
const RPC_PORTMAP_NULL: &[u8] = &[
    0x5c, 0x4e, 0x00, 0x01, // xid
    0, 0, 0, 0, // call
    0, 0, 0, 2, // RPC version 2
    0, 1, 0x86, 0xa0, // program 100000
    0, 0, 0, 2, // version 2
    0, 0, 0, 0, // procedure 0 (NULL)
    0, 0, 0, 0, 0, 0, 0, 0, // credentials: AUTH_NONE, empty
    0, 0, 0, 0, 0, 0, 0, 0, // verifier: AUTH_NONE, empty
];

/// NTP (RFC 5905): a version 4 client request (mode 3), 48 bytes.
const NTP_CLIENT: &[u8] = &[
    0xe3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// NetBIOS name service (RFC 1002): a node status request for the wildcard name `*`.
const NETBIOS_NODE_STATUS: &[u8] = &[
    0x5c, 0x4e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x20, b'C', b'K', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A',
    b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A',
    b'A', 0x00, //
    0x00, 0x21, // NBSTAT
    0x00, 0x01, // IN
];

/// SNMP v1 (RFC 1157): GetRequest for sysDescr.0 with community `public`.
const SNMP_V1_GET_SYSDESCR: &[u8] = &[
    0x30, 0x29, // message
    0x02, 0x01, 0x00, // version 1
    0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', // community
    0xa0, 0x1c, // GetRequest PDU
    0x02, 0x04, 0x00, 0x00, 0x5c, 0x4e, // request id
    0x02, 0x01, 0x00, // error status
    0x02, 0x01, 0x00, // error index
    0x30, 0x0e, // variable bindings
    0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00,
];

/// SSDP (UPnP device architecture): a search for every device and service.
const SSDP_SEARCH: &[u8] = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n";

/// SIP (RFC 3261): an OPTIONS request, which every SIP endpoint answers.
const SIP_OPTIONS: &[u8] = b"OPTIONS sip:target SIP/2.0\r\nVia: SIP/2.0/UDP scanner;branch=z9hG4bK-scanner\r\nFrom: <sip:scanner@scanner>;tag=scanner\r\nTo: <sip:target>\r\nCall-ID: scanner-probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

/// Multicast DNS (RFC 6762, 6763): the service enumeration query, sent unicast.
const MDNS_SERVICES: &[u8] = &[
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    9, b'_', b's', b'e', b'r', b'v', b'i', b'c', b'e', b's', //
    7, b'_', b'd', b'n', b's', b'-', b's', b'd', //
    4, b'_', b'u', b'd', b'p', //
    5, b'l', b'o', b'c', b'a', b'l', 0, //
    0x00, 0x0c, // PTR
    0x00, 0x01, // IN
];

/// memcached's UDP protocol: the frame header (request 1, datagram 1 of 1), then
/// the text command `version`.
const MEMCACHED_VERSION: &[u8] = b"\x00\x01\x00\x00\x00\x01\x00\x00version\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks one BER element at `at`; returns the offset after it.
    fn ber_element(bytes: &[u8], at: usize) -> usize {
        let tag = bytes[at];
        let len = usize::from(bytes[at + 1]);
        assert!(len < 0x80, "short lengths only");
        let end = at + 2 + len;
        assert!(end <= bytes.len(), "element at {at} runs past the end");
        // Constructed types (SEQUENCE, PDUs) must be filled exactly by their children.
        if tag & 0x20 != 0 {
            let mut inner = at + 2;
            while inner < end {
                inner = ber_element(bytes, inner);
            }
            assert_eq!(inner, end, "children of the element at {at}");
        }
        end
    }

    #[test]
    fn snmp_request_is_well_formed_ber() {
        assert_eq!(
            ber_element(SNMP_V1_GET_SYSDESCR, 0),
            SNMP_V1_GET_SYSDESCR.len()
        );
    }

    #[test]
    fn dns_queries_hold_one_well_formed_question() {
        for query in [DNS_VERSION_BIND, MDNS_SERVICES] {
            assert_eq!(u16::from_be_bytes([query[4], query[5]]), 1);
            let mut at = 12;
            while query[at] != 0 {
                at += 1 + usize::from(query[at]);
            }
            assert_eq!(at + 5, query.len(), "name, type and class end the query");
        }
    }

    #[test]
    fn fixed_sizes_match_their_specifications() {
        assert_eq!(NTP_CLIENT.len(), 48);
        assert_eq!(RPC_PORTMAP_NULL.len(), 40);
        assert_eq!(NETBIOS_NODE_STATUS.len(), 12 + 34 + 4);
        for port in PORTS_WITH_PAYLOADS {
            assert!(!for_port(port).is_empty(), "port {port}");
            assert!(for_port(port).len() < crate::io::MAX_PROBE_FRAME_LEN - 42);
        }
        assert!(for_port(40125).is_empty());
    }
}
