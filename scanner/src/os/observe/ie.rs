//! nmap's IE test: the replies to the two ICMP echo requests, compared with each
//! other and with the requests as sent (the first with DF and code 9, the second
//! without and with code 0), as nmap 7.93's `processTIcmpResp` reads them. The test
//! needs both replies; the first to come is kept until the other does.

use super::{Datagram, Exchange, OsProbe, Reading};
use crate::packet::wire::icmp;
use scanner_common::wire::IPPROTO_ICMP;

const ICMP_ECHO_REPLY: u8 = 0;

/// The fields of an echo request that its reply is read against.
#[derive(Clone, Copy, Debug)]
struct EchoProbe {
    ident: u16,
    code: u8,
    dont_fragment: bool,
}

impl EchoProbe {
    fn read(sent: &[u8]) -> Option<Self> {
        let datagram = Datagram::read(sent)?;
        if !datagram.is(IPPROTO_ICMP) {
            return None;
        }
        let message = icmp::Packet::new_checked(datagram.payload).ok()?;
        Some(Self {
            ident: message.ident(),
            code: message.code(),
            dont_fragment: datagram.dont_fragment(),
        })
    }
}

/// What an echo reply says for IE.
#[derive(Clone, Copy, Debug)]
struct EchoReply {
    dont_fragment: bool,
    ttl: u8,
    code: u8,
}

/// The echo replies of a round, as they come.
#[derive(Debug, Default)]
pub(super) struct EchoReplies {
    /// The two requests as first sent.
    probes: [Option<EchoProbe>; 2],
    /// The first reply to come, and to which request.
    first: Option<(usize, EchoReply)>,
    test: Option<Reading>,
}

impl EchoReplies {
    pub(super) fn for_probes(exchanges: &[Exchange]) -> Self {
        let probe = |n: u8| {
            exchanges
                .iter()
                .find(|exchange| exchange.probe == OsProbe::Ie(n))
                .and_then(|exchange| EchoProbe::read(&exchange.sent))
        };
        Self {
            probes: [probe(1), probe(2)],
            ..Self::default()
        }
    }

    /// Takes a reply to request `index` (0 or 1); true if it is useful (its IP ID then
    /// counts for II): an echo reply with the request's identifier, the first to come
    /// or the other request's, before the test is made.
    pub(super) fn take(&mut self, index: usize, reply: &Datagram) -> bool {
        if self.test.is_some() || !reply.is(IPPROTO_ICMP) {
            return false;
        }
        let Some(probe) = self.probes.get(index).copied().flatten() else {
            return false;
        };
        let Ok(message) = icmp::Packet::new_checked(reply.payload) else {
            return false;
        };
        if message.msg_type() != ICMP_ECHO_REPLY || message.ident() != probe.ident {
            return false;
        }
        let this = EchoReply {
            dont_fragment: reply.dont_fragment(),
            ttl: reply.ip.ttl(),
            code: message.code(),
        };
        match self.first {
            None => self.first = Some((index, this)),
            Some((first, _)) if first == index => return false,
            Some((_, other)) => {
                let (one, two) = if index == 0 {
                    (this, other)
                } else {
                    (other, this)
                };
                self.test = Some(self.ie_test(one, two));
            }
        }
        true
    }

    /// IE, `R=Y` with both replies: DFI, T (the first reply's), CD.
    fn ie_test(&self, one: EchoReply, two: EchoReply) -> Reading {
        let mut reading = Reading::answered("IE", one.ttl);
        let sent = self.probes[0].zip(self.probes[1]);
        let sent_df = sent.map(|(a, b)| (a.dont_fragment, b.dont_fragment));
        let sent_codes = sent.map(|(a, b)| (a.code, b.code));
        let dont_fragment = match (one.dont_fragment, two.dont_fragment) {
            (true, true) => "Y",
            both if Some(both) == sent_df => "S",
            (false, false) => "N",
            _ => "O",
        };
        reading.test.set("DFI", dont_fragment);
        let code = if one.code == two.code {
            if one.code == 0 {
                "Z".to_string()
            } else {
                format!("{:X}", one.code)
            }
        } else if Some((one.code, two.code)) == sent_codes {
            "S".to_string()
        } else {
            "O".to_string()
        };
        reading.test.set("CD", code);
        reading
    }

    pub(super) fn into_test(self) -> Option<Reading> {
        self.test
    }
}
