//! The XDP classifier: looks at every frame arriving on the scanning interface once,
//! recognises TCP replies (SYN+ACK, RST) to the scanner's own probes, and hands each
//! as a [`ReplyRecord`] to userspace through a BPF ring buffer.
//!
//! A reply is ours when it is addressed to the scanner's address, to a port in its
//! source-port range, and acknowledges `cookie + 1` (see `scanner_common::cookie`).
//! Ours are dropped here (userspace answers a SYN+ACK with its own RST); everything
//! else is passed to the kernel untouched, so the host's own connections keep working
//! during a scan. It keeps no per-probe state and its cost does not depend on how many
//! probes are outstanding.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::{Array, PerCpuArray, RingBuf},
    programs::XdpContext,
};
use scanner_common::wire::{
    ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_HEADER_LEN, IPPROTO_TCP,
    IPV4_MIN_HEADER_LEN, IP_FRAGMENT_MASK, TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN, VLAN_TAG_LEN,
};
use scanner_common::{
    cookie::{probe_cookie, stateless_source_port},
    reply_matches_cookie, ClassifierConfig, Counter, ReplyKind, ReplyRecord, COUNTER_COUNT,
    FLAG_PASS_SYNACK, FLAG_SPORT_FROM_COOKIE, REPLIES_RING_BYTES,
};

#[map(name = "CONFIG")]
static CONFIG: Array<ClassifierConfig> = Array::with_max_entries(1, 0);

#[map(name = "REPLIES")]
static REPLIES: RingBuf = RingBuf::with_byte_size(REPLIES_RING_BYTES, 0);

#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

/// The fixed 20 bytes of a TCP header, as they lie in the frame.
#[repr(C)]
struct TcpHeader {
    source_port: [u8; 2],
    dest_port: [u8; 2],
    seq: [u8; 4],
    ack: [u8; 4],
    data_offset: u8,
    flags: u8,
    window: [u8; 2],
    checksum: [u8; 2],
    urgent: [u8; 2],
}

/// The fixed 20 bytes of an IPv4 header.
#[repr(C)]
struct Ipv4Header {
    version_ihl: u8,
    tos: u8,
    total_len: [u8; 2],
    id: [u8; 2],
    frag: [u8; 2],
    ttl: u8,
    protocol: u8,
    checksum: [u8; 2],
    source: [u8; 4],
    dest: [u8; 4],
}

#[xdp]
pub fn scanner_xdp(ctx: XdpContext) -> u32 {
    count(Counter::Frames);
    classify(&ctx).unwrap_or(xdp_action::XDP_PASS)
}

#[inline(always)]
fn count(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *slot += 1 };
    }
}

/// A pointer to a `T` at `offset` into the frame, if the whole `T` lies inside it.
#[inline(always)]
fn header_at<T>(ctx: &XdpContext, offset: usize) -> Option<*const T> {
    let start = ctx.data() + offset;
    if start + core::mem::size_of::<T>() > ctx.data_end() {
        return None;
    }
    Some(start as *const T)
}

/// Returns the verdict for a frame, or `None` for "not ours" (passed on).
#[inline(always)]
fn classify(ctx: &XdpContext) -> Option<u32> {
    let config = CONFIG.get(0)?;
    if config.enabled == 0 {
        return None;
    }
    let ethertype: *const [u8; 2] = header_at(ctx, 12)?;
    // SAFETY: header_at checked the bounds.
    let mut ethertype = u16::from_be_bytes(unsafe { *ethertype });
    let mut l3 = ETH_HEADER_LEN;
    if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        // One 802.1Q/802.1ad tag: the real ethertype follows it.
        let inner: *const [u8; 2] = header_at(ctx, 16)?;
        // SAFETY: header_at checked the bounds.
        ethertype = u16::from_be_bytes(unsafe { *inner });
        l3 += VLAN_TAG_LEN;
    }
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip: *const Ipv4Header = header_at(ctx, l3)?;
    // SAFETY: header_at checked the bounds of the whole fixed header.
    let ip = unsafe { &*ip };
    if ip.version_ihl >> 4 != 4
        || ip.protocol != IPPROTO_TCP
        || u32::from_be_bytes(ip.dest) != config.local_addr
    {
        return None;
    }
    // Fragments are the kernel's to reassemble; replies to SYNs never come fragmented.
    if u16::from_be_bytes(ip.frag) & IP_FRAGMENT_MASK != 0 {
        return None;
    }
    let ip_header_len = ((ip.version_ihl & 0x0f) as usize) * 4;
    if ip_header_len < IPV4_MIN_HEADER_LEN {
        return None;
    }
    // Two fixed offsets (with and without a VLAN tag) keep the verifier's bounds simple.
    let tcp: *const TcpHeader = if l3 == ETH_HEADER_LEN {
        header_at(ctx, ETH_HEADER_LEN + ip_header_len)?
    } else {
        header_at(ctx, ETH_HEADER_LEN + VLAN_TAG_LEN + ip_header_len)?
    };
    // SAFETY: header_at checked the bounds of the whole fixed TCP header.
    let tcp = unsafe { &*tcp };
    let local_port = u16::from_be_bytes(tcp.dest_port);
    if local_port < config.port_lo || local_port > config.port_hi {
        return None;
    }
    let flags = tcp.flags;
    let kind =
        if flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST) == TCP_FLAG_SYN | TCP_FLAG_ACK {
            ReplyKind::SynAck
        } else if flags & TCP_FLAG_RST != 0 {
            ReplyKind::Rst
        } else {
            return None;
        };
    let remote_addr = u32::from_be_bytes(ip.source);
    let remote_port = u16::from_be_bytes(tcp.source_port);
    let ack = u32::from_be_bytes(tcp.ack);
    let expected = probe_cookie(&config.key, remote_addr, remote_port, local_port);
    let port_ok = config.flags & FLAG_SPORT_FROM_COOKIE == 0
        || local_port
            == stateless_source_port(
                &config.key,
                remote_addr,
                remote_port,
                config.port_lo,
                config.port_hi,
            );
    if !reply_matches_cookie(config.flags, expected, u32::from_be_bytes(tcp.seq), ack) || !port_ok {
        count(Counter::BadCookie);
        return None;
    }
    count(Counter::Matched);
    let record = ReplyRecord {
        // SAFETY: a plain helper call with no arguments.
        timestamp_ns: unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() },
        remote_addr,
        local_addr: config.local_addr,
        remote_port,
        local_port,
        seq: u32::from_be_bytes(tcp.seq),
        ack,
        window: u16::from_be_bytes(tcp.window),
        ttl: ip.ttl,
        kind: kind as u8,
        tcp_flags: flags,
        _pad: [0; 7],
    };
    if REPLIES.output::<ReplyRecord>(&record, 0).is_err() {
        count(Counter::RingFull);
    }
    if kind == ReplyKind::SynAck && config.flags & FLAG_PASS_SYNACK != 0 {
        return Some(xdp_action::XDP_PASS);
    }
    Some(xdp_action::XDP_DROP)
}

/// A sink for benchmarks: drops every IPv4 frame, counting it in `COUNTERS[Frames]`
/// (ARP still passes, so the host can be a next hop). Never attached by the scanner itself; `lab-xdp-drop` attaches it
/// to a lab host that must absorb a sender at full rate.
#[xdp]
pub fn drop_all(ctx: XdpContext) -> u32 {
    match header_at::<[u8; 2]>(&ctx, 12) {
        // SAFETY: header_at checked the bounds.
        Some(ethertype) if u16::from_be_bytes(unsafe { *ethertype }) == ETHERTYPE_IPV4 => {
            count(Counter::Frames);
            xdp_action::XDP_DROP
        }
        _ => xdp_action::XDP_PASS,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The kernel refuses programs that use GPL-only helpers without a GPL-compatible licence.
#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
