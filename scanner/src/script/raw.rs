//! Raw packets for scripts: the `rawpacket` module. A script crafts IP packets or
//! Ethernet frames (`rawpacket.tcp`, `udp`, `icmp`, `arp_request`), sends them
//! (`send`, `send_frame`), opens a capture on the key of the replies it wants
//! (`capture{...}`, then `:receive(ms)`), and takes what it gets apart
//! (`dissect`). Captures go through the scan's one classifier and the dispatcher
//! (`crate::dispatch`): a thousand scripts waiting cost the same per frame as one.
//!
//! Raw access exists only during an nmap-style raw-packet scan run with the
//! privileges it needs; elsewhere `rawpacket.available()` says why not. Every packet
//! must come from the scan's own address and go to a host the scan found up among
//! its targets (for ARP: ask about one), or it is refused.

use crate::dispatch::Capture;
use crate::packet::raw::{self, Dissected, IpSpec, TcpSpec, Transport};
use crate::packet::wire::ethernet;
use crate::packet::ETHERTYPE_IPV4;
use crate::raw_access::next_hop;
pub use crate::raw_access::RawAccess;
use crate::text::format_mac;
use anyhow::Result;
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, UserData, UserDataMethods, Value};
use scanner_common::capture::CaptureKey;
use scanner_common::wire::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A capture as scripts hold it.
struct ScriptCapture {
    capture: Option<Capture>,
    started: Instant,
}

impl UserData for ScriptCapture {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // receive(timeout_ms): true, ip_packet, frame, seconds since the scan's
        // raw access began; or false, "TIMEOUT".
        methods.add_async_method_mut(
            "receive",
            |lua, mut this, timeout_ms: Option<u64>| async move {
                let started = this.started;
                let Some(capture) = this.capture.as_mut() else {
                    return (false, "capture closed").into_lua_multi(&lua);
                };
                let wait = Duration::from_millis(timeout_ms.unwrap_or(1000).min(3_600_000));
                match tokio::time::timeout(wait, capture.next()).await {
                    Ok(Some(captured)) => {
                        let l3 = match ethernet::Frame::new_checked(&captured.frame[..]) {
                            Ok(frame)
                                if frame.vlan_id().is_none()
                                    && frame.ethertype() == ETHERTYPE_IPV4 =>
                            {
                                frame.payload_ref()
                            }
                            _ => &[][..],
                        };
                        (
                            true,
                            lua.create_string(l3)?,
                            lua.create_string(&captured.frame)?,
                            started.elapsed().as_secs_f64(),
                        )
                            .into_lua_multi(&lua)
                    }
                    Ok(None) => (false, "capture closed").into_lua_multi(&lua),
                    Err(_) => (false, "TIMEOUT").into_lua_multi(&lua),
                }
            },
        );
        methods.add_method_mut("close", |_, this, ()| {
            this.capture = None;
            Ok(true)
        });
    }
}

/// Where the module finds the scan's raw access (set while scripts run).
pub type RawSlot = Rc<RefCell<Option<Rc<RawAccess>>>>;

/// `nil, message` for a script.
fn refuse(lua: &Lua, message: impl AsRef<str>) -> mlua::Result<MultiValue> {
    (Value::Nil, message.as_ref()).into_lua_multi(lua)
}

fn access(slot: &RawSlot) -> Result<Rc<RawAccess>, &'static str> {
    slot.borrow().clone().ok_or(
        "raw packets need a raw-packet scan (-sS, -sU, -sn …) run as root; not -sT, not without privileges, and not a stateless sweep",
    )
}

fn addr_field(t: &Table, key: &str) -> mlua::Result<Ipv4Addr> {
    let text: String = t.get::<Option<String>>(key)?.ok_or_else(|| {
        mlua::Error::runtime(format!("rawpacket: `{key}` (an address) is needed"))
    })?;
    text.parse().map_err(|_| {
        mlua::Error::runtime(format!(
            "rawpacket: `{key}` = {text:?} is not an IPv4 address"
        ))
    })
}

fn bytes_field(t: &Table, key: &str) -> mlua::Result<Vec<u8>> {
    Ok(t.get::<Option<mlua::String>>(key)?
        .map(|s| s.as_bytes().to_vec())
        .unwrap_or_default())
}

/// TCP flags from a number or letters ("S", "SA", "FPU"; E = ECE, C = CWR).
fn tcp_flags(value: Value) -> mlua::Result<u8> {
    match value {
        Value::Nil => Ok(0x02),
        Value::Integer(n) => {
            u8::try_from(n).map_err(|_| mlua::Error::runtime("rawpacket: flags out of range"))
        }
        Value::String(s) => {
            let mut flags = 0u8;
            for c in s.to_str()?.chars() {
                flags |= match c.to_ascii_uppercase() {
                    'F' => 0x01,
                    'S' => 0x02,
                    'R' => 0x04,
                    'P' => 0x08,
                    'A' => 0x10,
                    'U' => 0x20,
                    'E' => 0x40,
                    'C' => 0x80,
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "rawpacket: unknown TCP flag {other:?}"
                        )))
                    }
                };
            }
            Ok(flags)
        }
        _ => Err(mlua::Error::runtime(
            "rawpacket: flags are a number or letters like \"SA\"",
        )),
    }
}

/// Letters for a flags byte, in tcpdump's order of naming.
fn flag_letters(flags: u8) -> String {
    [
        (0x02, 'S'),
        (0x01, 'F'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, 'A'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'C'),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// The IP header fields common to every crafted packet.
fn ip_spec(t: &Table, src: Ipv4Addr, protocol: u8) -> mlua::Result<IpSpec> {
    Ok(IpSpec {
        src,
        dst: addr_field(t, "dst")?,
        protocol,
        ttl: t.get::<Option<u8>>("ttl")?.unwrap_or(64),
        id: t.get::<Option<u16>>("id")?.unwrap_or_else(rand::random),
        tos: t.get::<Option<u8>>("tos")?.unwrap_or(0),
        dont_fragment: t.get::<Option<bool>>("df")?.unwrap_or(false),
        options: bytes_field(t, "ip_options")?,
    })
}

fn too_long() -> mlua::Error {
    mlua::Error::runtime("rawpacket: options too long (40 bytes at most)")
}

fn mac_text(mac: [u8; 6]) -> String {
    format_mac(&mac).to_ascii_lowercase()
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = text
        .split([':', '-'])
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

/// A dissected packet as a Lua table (see the module's README entry).
fn dissected_table(lua: &Lua, d: &Dissected) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("truncated", d.truncated)?;
    if let Some((dst, src)) = d.ethernet {
        let eth = lua.create_table()?;
        eth.set("dst", mac_text(dst))?;
        eth.set("src", mac_text(src))?;
        t.set("ethernet", eth)?;
    }
    if let Some(arp) = &d.arp {
        let a = lua.create_table()?;
        a.set("oper", arp.oper)?;
        a.set("sender_mac", mac_text(arp.sender_mac))?;
        a.set("sender_ip", arp.sender_ip.to_string())?;
        a.set("target_mac", mac_text(arp.target_mac))?;
        a.set("target_ip", arp.target_ip.to_string())?;
        t.set("arp", a)?;
    }
    if let Some(ip) = &d.ip {
        let i = lua.create_table()?;
        i.set("hl", ip.header_len)?;
        i.set("tos", ip.tos)?;
        i.set("len", ip.total_len)?;
        i.set("id", ip.id)?;
        i.set("df", ip.dont_fragment)?;
        i.set("mf", ip.more_fragments)?;
        i.set("frag_offset", ip.fragment_offset)?;
        i.set("ttl", ip.ttl)?;
        i.set("proto", ip.protocol)?;
        i.set("src", ip.src.to_string())?;
        i.set("dst", ip.dst.to_string())?;
        i.set("options", lua.create_string(&ip.options)?)?;
        t.set("ip", i)?;
    }
    match &d.transport {
        Some(Transport::Tcp(tcp)) => {
            let p = lua.create_table()?;
            p.set("sport", tcp.sport)?;
            p.set("dport", tcp.dport)?;
            p.set("seq", tcp.seq)?;
            p.set("ack", tcp.ack)?;
            p.set("hl", tcp.header_len)?;
            p.set("reserved", tcp.reserved)?;
            p.set("flags", tcp.flags)?;
            p.set("flags_str", flag_letters(tcp.flags))?;
            p.set("window", tcp.window)?;
            p.set("urgent", tcp.urgent)?;
            p.set("payload_len", tcp.payload_len)?;
            p.set("trailing_after_eol", tcp.trailing_after_eol)?;
            p.set("options_malformed", tcp.options_malformed)?;
            let options = lua.create_table()?;
            for option in &tcp.options {
                let o = lua.create_table()?;
                o.set("kind", option.kind)?;
                let name = match option.kind {
                    0 => "eol",
                    1 => "nop",
                    2 => "mss",
                    3 => "ws",
                    4 => "sok",
                    5 => "sack",
                    8 => "ts",
                    _ => "?",
                };
                o.set("name", name)?;
                o.set("data", lua.create_string(&option.data)?)?;
                match (option.kind, option.data.as_slice()) {
                    (2, [a, b]) => o.set("value", u16::from_be_bytes([*a, *b]))?,
                    (3, [shift]) => o.set("value", *shift)?,
                    (8, [a, b, c, d, e, f, g, h]) => {
                        o.set("ts_val", u32::from_be_bytes([*a, *b, *c, *d]))?;
                        o.set("ts_ecr", u32::from_be_bytes([*e, *f, *g, *h]))?;
                    }
                    _ => {}
                }
                options.push(o)?;
            }
            p.set("options", options)?;
            t.set("tcp", p)?;
        }
        Some(Transport::Udp { sport, dport, len }) => {
            let p = lua.create_table()?;
            p.set("sport", *sport)?;
            p.set("dport", *dport)?;
            p.set("len", *len)?;
            t.set("udp", p)?;
        }
        Some(Transport::Icmp {
            icmp_type,
            code,
            id,
            seq,
            quoted,
        }) => {
            let p = lua.create_table()?;
            p.set("type", *icmp_type)?;
            p.set("code", *code)?;
            p.set("id", *id)?;
            p.set("seq", *seq)?;
            if let Some(quoted) = quoted {
                p.set("quoted", dissected_table(lua, quoted)?)?;
            }
            t.set("icmp", p)?;
        }
        Some(Transport::Other) | None => {}
    }
    Ok(t)
}

/// Installs the `rawpacket` module; `slot` holds the scan's raw access while
/// scripts run (empty otherwise).
pub fn install(lua: &Lua, slot: RawSlot) -> mlua::Result<()> {
    let m = lua.create_table()?;
    let s = slot.clone();
    m.set(
        "available",
        lua.create_function(move |lua, ()| match access(&s) {
            Ok(_) => true.into_lua_multi(lua),
            Err(why) => (false, why).into_lua_multi(lua),
        })?,
    )?;
    let s = slot.clone();
    m.set(
        "address",
        lua.create_function(move |lua, ()| match access(&s) {
            Ok(raw) => raw.src_ip.to_string().into_lua_multi(lua),
            Err(why) => refuse(lua, why),
        })?,
    )?;
    let s = slot.clone();
    m.set(
        "source_port",
        lua.create_function(move |lua, ()| {
            match access(&s)
                .map_err(str::to_string)
                .and_then(|raw| raw.reserve_port())
            {
                Ok(port) => port.into_lua_multi(lua),
                Err(why) => refuse(lua, why),
            }
        })?,
    )?;
    let s = slot.clone();
    m.set(
        "tcp",
        lua.create_function(move |lua, t: Table| {
            let raw = access(&s).map_err(mlua::Error::runtime)?;
            let ip = ip_spec(&t, raw.src_ip, IPPROTO_TCP)?;
            let tcp = TcpSpec {
                sport: t.get("sport")?,
                dport: t.get("dport")?,
                seq: t.get::<Option<u32>>("seq")?.unwrap_or_else(rand::random),
                ack: t.get::<Option<u32>>("ack")?.unwrap_or(0),
                flags: tcp_flags(t.get("flags")?)?,
                window: t.get::<Option<u16>>("window")?.unwrap_or(1024),
                urgent: t.get::<Option<u16>>("urgent")?.unwrap_or(0),
                options: bytes_field(&t, "tcp_options")?,
            };
            let segment = raw::tcp_segment(ip.src, ip.dst, &tcp, &bytes_field(&t, "payload")?)
                .ok_or_else(too_long)?;
            lua.create_string(raw::ipv4(&ip, &segment).ok_or_else(too_long)?)
        })?,
    )?;
    let s = slot.clone();
    m.set(
        "udp",
        lua.create_function(move |lua, t: Table| {
            let raw = access(&s).map_err(mlua::Error::runtime)?;
            let ip = ip_spec(&t, raw.src_ip, IPPROTO_UDP)?;
            let datagram = raw::udp_datagram(
                ip.src,
                ip.dst,
                t.get("sport")?,
                t.get("dport")?,
                &bytes_field(&t, "payload")?,
            );
            lua.create_string(raw::ipv4(&ip, &datagram).ok_or_else(too_long)?)
        })?,
    )?;
    let s = slot.clone();
    m.set(
        "icmp",
        lua.create_function(move |lua, t: Table| {
            let raw = access(&s).map_err(mlua::Error::runtime)?;
            let ip = ip_spec(&t, raw.src_ip, IPPROTO_ICMP)?;
            let message = raw::icmp_message(
                t.get::<Option<u8>>("type")?.unwrap_or(8),
                t.get::<Option<u8>>("code")?.unwrap_or(0),
                t.get("icmp_id")?,
                t.get::<Option<u16>>("icmp_seq")?.unwrap_or(1),
                &bytes_field(&t, "payload")?,
            );
            lua.create_string(raw::ipv4(&ip, &message).ok_or_else(too_long)?)
        })?,
    )?;
    let s = slot.clone();
    m.set(
        "arp_request",
        lua.create_function(move |lua, t: Table| {
            let raw = access(&s).map_err(mlua::Error::runtime)?;
            let dst_mac = match t.get::<Option<String>>("dst_mac")? {
                Some(text) => parse_mac(&text).ok_or_else(|| {
                    mlua::Error::runtime(format!("rawpacket: {text:?} is not a MAC address"))
                })?,
                None => [0xff; 6],
            };
            let target = addr_field(&t, "target")?;
            lua.create_string(raw::arp_request(raw.src_mac, raw.src_ip, dst_mac, target))
        })?,
    )?;
    for (name, is_frame) in [("send", false), ("send_frame", true)] {
        let s = slot.clone();
        m.set(
            name,
            lua.create_function(move |lua, bytes: mlua::String| {
                let raw = match access(&s) {
                    Ok(raw) => raw,
                    Err(why) => return refuse(lua, why),
                };
                let bytes = bytes.as_bytes();
                let sent = if is_frame {
                    raw.send_frame(&bytes)
                } else {
                    raw.send_ip(&bytes)
                };
                match sent {
                    Ok(()) => true.into_lua_multi(lua),
                    Err(why) => refuse(lua, why),
                }
            })?,
        )?;
    }
    let s = slot.clone();
    m.set(
        "capture",
        lua.create_function(move |lua, t: Table| {
            let raw = match access(&s) {
                Ok(raw) => raw,
                Err(why) => return refuse(lua, why),
            };
            let host = addr_field(&t, "host")?;
            // Captures see only the scan's targets, as sends reach only them.
            next_hop(&raw.next_hops, host)
                .map_err(|why| mlua::Error::runtime(format!("rawpacket.capture: {why}")))?;
            let proto: String = t.get::<Option<String>>("proto")?.unwrap_or_default();
            let key = match proto.as_str() {
                "tcp" | "udp" => CaptureKey::transport(
                    if proto == "tcp" {
                        IPPROTO_TCP
                    } else {
                        IPPROTO_UDP
                    },
                    u32::from(host),
                    t.get("rport")?,
                    t.get("lport")?,
                ),
                "icmp" => CaptureKey::icmp(u32::from(host), t.get("icmp_id")?),
                "arp" => CaptureKey::arp(u32::from(host)),
                other => {
                    return refuse(
                        lua,
                        format!("capture: proto {other:?} is not tcp, udp, icmp or arp"),
                    )
                }
            };
            match raw.hub.open(key) {
                Ok(capture) => ScriptCapture {
                    capture: Some(capture),
                    started: raw.started,
                }
                .into_lua_multi(lua),
                Err(err) => refuse(lua, format!("{err:#}")),
            }
        })?,
    )?;
    m.set(
        "dissect",
        lua.create_function(|lua, (bytes, is_frame): (mlua::String, Option<bool>)| {
            dissected_table(
                lua,
                &raw::dissect(&bytes.as_bytes(), is_frame.unwrap_or(false)),
            )
        })?,
    )?;
    lua.globals().set("rawpacket", m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn packets_and_captures_only_for_hosts_found_up() {
        let up: Ipv4Addr = "198.18.0.10".parse().unwrap();
        let hops = RefCell::new(HashMap::from([(up, [2, 0, 0, 0, 0, 1])]));
        assert_eq!(next_hop(&hops, up), Ok([2, 0, 0, 0, 0, 1]));
        assert_eq!(
            next_hop(&hops, "198.18.0.11".parse().unwrap()),
            Err("198.18.0.11 is not a host this scan found up".to_string())
        );
    }
}
