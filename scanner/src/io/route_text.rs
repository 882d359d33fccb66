//! Routing tables and interface MACs read from the text other systems print, for the
//! portable build off Linux (Linux has `/proc/net/route`, see [`super::iface`]):
//!
//! - macOS and the BSDs: `netstat -rn -f inet`, whose columns are found by their
//!   headers (`Destination`, `Gateway`, `Flags`, then `Netif` or `Iface`), with the
//!   abbreviated destinations macOS prints (`127`, `192.168.1`, `10.8/16`, `default`);
//! - Windows: `route print -4` (`Network Destination  Netmask  Gateway  Interface
//!   Metric`, the interface given by its address, `On-link` or its translation for
//!   no gateway) and `getmac /v /fo csv /nh` (the MAC beside `\Device\Tcpip_{GUID}`,
//!   whose GUID names the Npcap device `\Device\NPF_{GUID}`).
//!
//! The parsers are plain functions of the text, so they are tested on every system;
//! running the commands is the caller's business. Lines that do not parse are skipped.

use super::iface::{Route, RoutingTable};
use std::net::Ipv4Addr;

/// The IPv4 routes of `netstat -rn -f inet` output (macOS, FreeBSD, OpenBSD, NetBSD).
pub fn parse_netstat(text: &str) -> RoutingTable {
    let mut routes = Vec::new();
    let mut columns: Option<[usize; 4]> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() == Some(&"Destination") {
            let at = |names: &[&str]| fields.iter().position(|f| names.contains(f));
            columns = match (
                at(&["Destination"]),
                at(&["Gateway"]),
                at(&["Flags"]),
                at(&["Netif", "Iface", "Interface"]),
            ) {
                (Some(d), Some(g), Some(f), Some(i)) => Some([d, g, f, i]),
                _ => None,
            };
            continue;
        }
        // Each family's section has its own header; an IPv6 one ends ours.
        if line.starts_with("Internet6") {
            columns = None;
        }
        let Some([dest_at, gateway_at, flags_at, iface_at]) = columns else {
            continue;
        };
        let (Some(dest), Some(gateway), Some(flags), Some(iface)) = (
            fields.get(dest_at),
            fields.get(gateway_at),
            fields.get(flags_at),
            fields.get(iface_at),
        ) else {
            continue;
        };
        if !flags.contains('U') {
            continue;
        }
        let Some((dest, bits)) = netstat_destination(dest, flags.contains('H')) else {
            continue;
        };
        let gateway = if flags.contains('G') {
            match gateway.parse::<Ipv4Addr>() {
                Ok(gateway) => Some(gateway),
                Err(_) => continue,
            }
        } else {
            None
        };
        routes.push(Route {
            iface: iface.to_string(),
            dest,
            mask: prefix_mask(bits),
            gateway,
            metric: 0,
        });
    }
    RoutingTable::from_routes(routes)
}

/// A netstat destination as an address and prefix length: `default`, `a.b.c.d/n`,
/// a host (flag `H`), or the classful abbreviations macOS prints (`127` is 127/8,
/// `192.168.1` is 192.168.1/24, `10.8/16` is 10.8.0.0/16).
fn netstat_destination(text: &str, host: bool) -> Option<(Ipv4Addr, u8)> {
    if text == "default" {
        return Some((Ipv4Addr::UNSPECIFIED, 0));
    }
    let (addr, bits) = match text.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits.parse::<u8>().ok().filter(|&b| b <= 32)?)),
        None => (text, None),
    };
    let mut octets = [0u8; 4];
    let mut count = 0;
    for part in addr.split('.') {
        if count == 4 {
            return None;
        }
        octets[count] = part.parse().ok()?;
        count += 1;
    }
    let bits = match bits {
        Some(bits) => bits,
        None if host || count == 4 => 32,
        None => 8 * count as u8,
    };
    let addr = u32::from(Ipv4Addr::from(octets)) & u32::from(prefix_mask(bits));
    Some((Ipv4Addr::from(addr), bits))
}

/// The routes of Windows' `route print -4`, each naming its interface by address.
pub fn parse_route_print(text: &str) -> RoutingTable {
    let mut routes = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Destination, netmask, gateway (an address or a word such as `On-link`),
        // interface address, metric. Persistent routes have no interface column.
        let [dest, mask, gateway, iface, metric] = fields[..] else {
            continue;
        };
        let (Ok(dest), Ok(mask), Ok(_), Ok(metric)) = (
            dest.parse::<Ipv4Addr>(),
            mask.parse::<Ipv4Addr>(),
            iface.parse::<Ipv4Addr>(),
            metric.parse::<u32>(),
        ) else {
            continue;
        };
        routes.push(Route {
            iface: iface.to_string(),
            dest,
            mask,
            gateway: gateway.parse().ok(),
            metric,
        });
    }
    RoutingTable::from_routes(routes)
}

/// The MAC of the adapter whose transport is `\Device\Tcpip_{GUID}` for the Npcap
/// device `\Device\NPF_{GUID}` named `npcap_device`, from `getmac /v /fo csv /nh`
/// (`"Connection","Adapter","AA-BB-CC-DD-EE-FF","\Device\Tcpip_{GUID}"`).
pub fn parse_getmac(text: &str, npcap_device: &str) -> Option<[u8; 6]> {
    let guid = npcap_device.rsplit_once("NPF_")?.1;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        let transport = fields.last()?;
        if !transport.eq_ignore_ascii_case(&format!("\\Device\\Tcpip_{guid}")) {
            return None;
        }
        fields
            .iter()
            .find_map(|field| super::iface::parse_mac(&field.replace('-', ":")))
    })
}

/// The netmask of a prefix `bits` long.
fn prefix_mask(bits: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(bits.min(32)))
            .unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `netstat -rn -f inet` as macOS prints it (Ventura): abbreviated destinations,
    /// link-layer gateways for on-link routes, an ARP entry (flag `L`) and a
    /// host route.
    const MACOS: &str = "Routing tables

Internet:
Destination        Gateway            Flags               Netif Expire
default            192.168.1.1        UGScg                 en0
127                127.0.0.1          UCS                   lo0
127.0.0.1          127.0.0.1          UH                    lo0
169.254            link#6             UCS                   en0      !
192.168.1          link#6             UCS                   en0      !
192.168.1.1/32     link#6             UCS                   en0      !
192.168.1.1        a4:91:b1:12:34:56  UHLWIir               en0   1187
10.8/16            192.168.1.254      UGSc                  en0
";

    /// FreeBSD 14's `netstat -rn -f inet`.
    const FREEBSD: &str = "Routing tables

Internet:
Destination        Gateway            Flags         Netif Expire
default            10.0.2.2           UGS             em0
10.0.2.0/24        link#1             U               em0
10.0.2.15          link#2             UHS             lo0
127.0.0.1          link#2             UH              lo0
";

    /// OpenBSD's, with `Iface` last and more columns between.
    const OPENBSD: &str = "Routing tables

Internet:
Destination        Gateway            Flags   Refs      Use   Mtu  Prio Iface
default            192.168.56.1       UGS        4      118     -     8 vio0
127/8              127.0.0.1          UGRS       0        0 32768     8 lo0
192.168.56/24      192.168.56.10      UCn        1        5     -     4 vio0
";

    #[test]
    fn macos_routes_with_abbreviated_destinations() {
        let table = parse_netstat(MACOS);
        let default = table.lookup(Ipv4Addr::new(8, 8, 8, 8)).unwrap();
        assert_eq!(
            (default.iface.as_str(), default.gateway),
            ("en0", Some(Ipv4Addr::new(192, 168, 1, 1)))
        );
        let on_link = table.lookup(Ipv4Addr::new(192, 168, 1, 77)).unwrap();
        assert_eq!((on_link.iface.as_str(), on_link.gateway), ("en0", None));
        assert_eq!(on_link.mask, Ipv4Addr::new(255, 255, 255, 0));
        let far = table.lookup(Ipv4Addr::new(10, 8, 3, 4)).unwrap();
        assert_eq!(far.gateway, Some(Ipv4Addr::new(192, 168, 1, 254)));
        assert_eq!(
            table.lookup(Ipv4Addr::new(127, 3, 0, 1)).unwrap().iface,
            "lo0"
        );
    }

    #[test]
    fn freebsd_and_openbsd_routes() {
        let table = parse_netstat(FREEBSD);
        let on_link = table.lookup(Ipv4Addr::new(10, 0, 2, 9)).unwrap();
        assert_eq!((on_link.iface.as_str(), on_link.gateway), ("em0", None));
        assert_eq!(
            table.lookup(Ipv4Addr::new(1, 1, 1, 1)).unwrap().gateway,
            Some(Ipv4Addr::new(10, 0, 2, 2))
        );
        let table = parse_netstat(OPENBSD);
        let on_link = table.lookup(Ipv4Addr::new(192, 168, 56, 20)).unwrap();
        assert_eq!((on_link.iface.as_str(), on_link.gateway), ("vio0", None));
        assert_eq!(
            table.lookup(Ipv4Addr::new(9, 9, 9, 9)).unwrap().iface,
            "vio0"
        );
    }

    /// `route print -4` on Windows 11 (English), persistent routes included.
    const WINDOWS: &str =
        "===========================================================================
Interface List
 12...00 15 5d 01 02 03 ......Hyper-V Virtual Ethernet Adapter
  1...........................Software Loopback Interface 1
===========================================================================

IPv4 Route Table
===========================================================================
Active Routes:
Network Destination        Netmask          Gateway       Interface  Metric
          0.0.0.0          0.0.0.0      172.20.16.1    172.20.26.90     15
        127.0.0.0        255.0.0.0         On-link         127.0.0.1    331
      172.20.16.0    255.255.240.0         On-link      172.20.26.90    271
     172.20.26.90  255.255.255.255         On-link      172.20.26.90    271
===========================================================================
Persistent Routes:
  Network Address          Netmask  Gateway Address  Metric
          0.0.0.0          0.0.0.0      172.20.16.1  Default
===========================================================================
";

    #[test]
    fn windows_routes_name_interfaces_by_address() {
        let table = parse_route_print(WINDOWS);
        assert_eq!(table.routes().len(), 4);
        let default = table.lookup(Ipv4Addr::new(8, 8, 8, 8)).unwrap();
        assert_eq!(
            (default.iface.as_str(), default.gateway),
            ("172.20.26.90", Some(Ipv4Addr::new(172, 20, 16, 1)))
        );
        let on_link = table.lookup(Ipv4Addr::new(172, 20, 17, 3)).unwrap();
        assert_eq!(on_link.gateway, None);
        // A translated "On-link" is no address either.
        let german = WINDOWS.replace("On-link", "Auf Verbindung");
        let german = german.replace("Auf Verbindung", "Auf-Verbindung");
        let table = parse_route_print(&german);
        assert_eq!(
            table.lookup(Ipv4Addr::new(172, 20, 17, 3)).unwrap().gateway,
            None
        );
    }

    #[test]
    fn windows_macs_by_npcap_device() {
        let getmac = "\"Ethernet\",\"Intel(R) Ethernet Connection\",\"00-15-5D-01-02-03\",\"\\Device\\Tcpip_{6A7D2F8E-1234-4B5C-9D0E-112233445566}\"\n\
                      \"Wi-Fi\",\"Intel(R) Wi-Fi 6\",\"Disabled\",\"Disconnected\"\n";
        assert_eq!(
            parse_getmac(
                getmac,
                "\\Device\\NPF_{6A7D2F8E-1234-4B5C-9D0E-112233445566}"
            ),
            Some([0x00, 0x15, 0x5d, 0x01, 0x02, 0x03])
        );
        assert_eq!(parse_getmac(getmac, "\\Device\\NPF_{OTHER}"), None);
        assert_eq!(parse_getmac(getmac, "eth0"), None);
    }

    #[test]
    fn hostile_or_odd_text_is_skipped_never_a_panic() {
        for text in [
            "",
            "Destination\n",
            "Destination Gateway Flags Netif\n1.2.3.4.5 x U en0\n300 1.1.1.1 UG en0\n",
            "Destination Gateway Flags Netif\n1.2/99 1.1.1.1 UG en0\n1.2.3.4 notanip UG en0\n",
            "0.0.0.0 0.0.0.0 On-link 1.2.3.4 99999999999\n",
        ] {
            let table = parse_netstat(text);
            assert!(table.routes().is_empty(), "{text:?}: {:?}", table.routes());
            assert!(parse_route_print(text).routes().is_empty());
        }
    }
}
