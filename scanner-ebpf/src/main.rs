//! The XDP classifier: looks at every frame arriving on the scanning interface once,
//! recognises replies to the scanner's own probes (TCP SYN+ACK and RST, UDP replies,
//! ICMP echo/timestamp/mask replies, ICMP errors quoting a probe, ARP replies), and
//! hands each as a
//! [`ReplyRecord`] to userspace through a BPF ring buffer.
//!
//! This file only parses headers within the verifier's bounds; whether a frame is ours
//! is decided by `scanner_common::classify`, which the userspace twin calls too.
//! Ours are dropped here (userspace answers a SYN+ACK with its own RST, unless told to
//! pass it on; UDP replies are passed on as well); everything else is passed to the
//! kernel untouched, so the host's own connections keep working during a scan. It keeps
//! no per-probe state and its cost does not depend on how many probes are outstanding.
//!
//! It also serves raw-packet scripts: each frame addressed to the scanner is reduced
//! to one capture key (`scanner_common::capture`); when a script waits on that key,
//! the frame is copied into the capture ring (and goes on as it would have).
#![no_std]
#![no_main]

mod runtime;

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::XdpContext,
};
use scanner_common::capture::{
    CaptureKey, CapturedFrame, CAPTURED_RING_BYTES, CAPTURE_KEYS_MAX, CAPTURE_SNAP,
};
use scanner_common::classify::{
    classify_arp, classify_icmp_error, classify_icmp_query_reply, classify_tcp, classify_udp,
    ArpFields, QuotedProbe, TcpFields, Verdict,
};
use scanner_common::wire::{
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_HEADER_LEN,
    ICMP_DEST_UNREACHABLE, ICMP_HEADER_LEN, ICMP_TIME_EXCEEDED, IPPROTO_ICMP, IPPROTO_TCP,
    IPPROTO_UDP, IPV4_MIN_HEADER_LEN, IP_FRAGMENT_MASK, VLAN_TAG_LEN,
};
use scanner_common::{
    ClassifierConfig, Counter, ReplyKind, ReplyRecord, COUNTER_COUNT, FLAG_PASS_SYNACK, FLAG_UDP,
    REPLIES_RING_BYTES,
};

#[map(name = "CONFIG")]
static CONFIG: Array<ClassifierConfig> = Array::with_max_entries(1, 0);

#[map(name = "REPLIES")]
static REPLIES: RingBuf = RingBuf::with_byte_size(REPLIES_RING_BYTES, 0);

#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_COUNT, 0);

/// The keys scripts wait on (see `scanner_common::capture`); the value is userspace's.
#[map(name = "CAPTURE_KEYS")]
static CAPTURE_KEYS: HashMap<CaptureKey, u32> = HashMap::with_max_entries(CAPTURE_KEYS_MAX, 0);

/// Frames whose key a script waits on, for the userspace dispatcher.
#[map(name = "CAPTURED")]
static CAPTURED: RingBuf = RingBuf::with_byte_size(CAPTURED_RING_BYTES, 0);

/// How many keys are waited on: 0 skips the lookup.
#[map(name = "CAPTURING")]
static CAPTURING: Array<u32> = Array::with_max_entries(1, 0);

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

/// An Ethernet/IPv4 ARP packet (28 bytes).
#[repr(C)]
struct ArpPacket {
    htype: [u8; 2],
    ptype: [u8; 2],
    hlen: u8,
    plen: u8,
    oper: [u8; 2],
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
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

/// A pointer to a `T` at `offset` into the frame, if the whole `T` lies before `end`
/// (the end of the IP packet: Ethernet padding after it is not payload).
#[inline(always)]
fn header_before<T>(ctx: &XdpContext, offset: usize, end: usize) -> Option<*const T> {
    // The frame's bounds first, for the verifier to see (LLVM drops a check it
    // finds implied by an earlier one, and the verifier cannot follow that proof).
    let header = header_at(ctx, offset)?;
    if offset + core::mem::size_of::<T>() > end {
        return None;
    }
    Some(header)
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
    if ethertype == ETHERTYPE_ARP {
        let arp: *const ArpPacket = header_at(ctx, l3)?;
        // SAFETY: header_at checked the bounds of the whole ARP packet.
        let arp = unsafe { &*arp };
        if u16::from_be_bytes(arp.oper) == scanner_common::wire::ARP_OPER_REPLY
            && u32::from_be_bytes(arp.tpa) == config.local_addr
        {
            capture(ctx, CaptureKey::arp(u32::from_be_bytes(arp.spa)));
        }
        let verdict = classify_arp(
            config,
            &ArpFields {
                is_ethernet_ipv4: u16::from_be_bytes(arp.htype) == 1
                    && u16::from_be_bytes(arp.ptype) == ETHERTYPE_IPV4
                    && arp.hlen == 6
                    && arp.plen == 4,
                oper: u16::from_be_bytes(arp.oper),
                sender_mac: arp.sha,
                sender_addr: u32::from_be_bytes(arp.spa),
                target_addr: u32::from_be_bytes(arp.tpa),
            },
        );
        // The kernel keeps its neighbour table from ARP replies too.
        return deliver(verdict, |_| true);
    }
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip: *const Ipv4Header = header_at(ctx, l3)?;
    // SAFETY: header_at checked the bounds of the whole fixed header.
    let ip = unsafe { &*ip };
    if ip.version_ihl >> 4 != 4 || u32::from_be_bytes(ip.dest) != config.local_addr {
        return None;
    }
    // Fragments are the kernel's to reassemble; replies to probes never come fragmented.
    if u16::from_be_bytes(ip.frag) & IP_FRAGMENT_MASK != 0 {
        return None;
    }
    let ip_header_len = ((ip.version_ihl & 0x0f) as usize) * 4;
    if ip_header_len < IPV4_MIN_HEADER_LEN {
        return None;
    }
    // The packet ends where its total length says; one that claims more bytes than
    // the frame has is refused.
    let total_len = u16::from_be_bytes(ip.total_len) as usize;
    if total_len < ip_header_len || ctx.data() + l3 + total_len > ctx.data_end() {
        return None;
    }
    let ip_end = l3 + total_len;
    let l4 = l3 + ip_header_len;
    let remote_addr = u32::from_be_bytes(ip.source);
    match ip.protocol {
        IPPROTO_TCP => {
            let tcp: *const TcpHeader = header_before(ctx, l4, ip_end)?;
            // SAFETY: header_at checked the bounds of the whole fixed TCP header.
            let tcp = unsafe { &*tcp };
            capture(
                ctx,
                CaptureKey::transport(
                    IPPROTO_TCP,
                    remote_addr,
                    u16::from_be_bytes(tcp.source_port),
                    u16::from_be_bytes(tcp.dest_port),
                ),
            );
            let verdict = classify_tcp(
                config,
                &TcpFields {
                    remote_addr,
                    remote_port: u16::from_be_bytes(tcp.source_port),
                    local_port: u16::from_be_bytes(tcp.dest_port),
                    seq: u32::from_be_bytes(tcp.seq),
                    ack: u32::from_be_bytes(tcp.ack),
                    flags: tcp.flags,
                    window: u16::from_be_bytes(tcp.window),
                    ttl: ip.ttl,
                },
            );
            if matches!(verdict, Verdict::Reply(r) if r.kind == ReplyKind::SynAck as u8) {
                capture(ctx, CaptureKey::syn_acks());
            }
            let pass_synack = config.flags & FLAG_PASS_SYNACK != 0;
            deliver(verdict, |r| {
                pass_synack && r.kind == ReplyKind::SynAck as u8
            })
        }
        IPPROTO_UDP => {
            let udp: *const [u8; 8] = header_before(ctx, l4, ip_end)?;
            // SAFETY: header_at checked the bounds of the whole UDP header.
            let udp = unsafe { &*udp };
            capture(
                ctx,
                CaptureKey::transport(
                    IPPROTO_UDP,
                    remote_addr,
                    u16::from_be_bytes([udp[0], udp[1]]),
                    u16::from_be_bytes([udp[2], udp[3]]),
                ),
            );
            if config.flags & FLAG_UDP == 0 {
                return None;
            }
            let verdict = classify_udp(
                config,
                remote_addr,
                u16::from_be_bytes([udp[0], udp[1]]),
                u16::from_be_bytes([udp[2], udp[3]]),
                ip.ttl,
            );
            // The kernel sees UDP replies too: should the keyed port ever collide with
            // one of the host's own sockets, that socket still gets its datagram.
            deliver(verdict, |_| true)
        }
        IPPROTO_ICMP => {
            let icmp: *const [u8; 8] = header_before(ctx, l4, ip_end)?;
            // SAFETY: header_at checked the bounds of the whole ICMP header.
            let icmp = unsafe { &*icmp };
            let icmp_type = icmp[0];
            if icmp_type != ICMP_DEST_UNREACHABLE && icmp_type != ICMP_TIME_EXCEEDED {
                capture(
                    ctx,
                    CaptureKey::icmp(remote_addr, u16::from_be_bytes([icmp[4], icmp[5]])),
                );
                let verdict = classify_icmp_query_reply(
                    config,
                    remote_addr,
                    icmp_type,
                    u16::from_be_bytes([icmp[4], icmp[5]]),
                    u16::from_be_bytes([icmp[6], icmp[7]]),
                    ip.ttl,
                );
                return deliver(verdict, |_| false);
            }
            // The error quotes our probe's IP header and its first eight bytes.
            let inner_at = l4 + ICMP_HEADER_LEN;
            let inner: *const Ipv4Header = header_before(ctx, inner_at, ip_end)?;
            // SAFETY: header_at checked the bounds of the whole quoted IP header.
            let inner = unsafe { &*inner };
            let inner_len = ((inner.version_ihl & 0x0f) as usize) * 4;
            if inner_len < IPV4_MIN_HEADER_LEN {
                return None;
            }
            let head: *const [u8; 8] = header_before(ctx, inner_at + inner_len, ip_end)?;
            let quoted = QuotedProbe {
                protocol: inner.protocol,
                remote_addr: u32::from_be_bytes(inner.dest),
                local_addr: u32::from_be_bytes(inner.source),
                // SAFETY: header_at checked the bounds of the eight quoted bytes.
                head: unsafe { *head },
            };
            if quoted.local_addr == config.local_addr {
                if let Some(key) =
                    CaptureKey::quoted(quoted.protocol, quoted.remote_addr, &quoted.head)
                {
                    capture(ctx, key);
                }
            }
            let verdict =
                classify_icmp_error(config, remote_addr, icmp_type, icmp[1], ip.ttl, &quoted);
            deliver(verdict, |_| false)
        }
        _ => None,
    }
}

/// Copies the frame to the capture ring if a script waits on `key`. One array read
/// when no script waits; one hash lookup when some do, however many.
#[inline(always)]
fn capture(ctx: &XdpContext, key: CaptureKey) {
    match CAPTURING.get(0) {
        Some(waiting) if *waiting != 0 => {}
        _ => return,
    }
    // SAFETY: the value is only tested for presence, never kept.
    if unsafe { CAPTURE_KEYS.get(&key) }.is_none() {
        return;
    }
    let Some(mut entry) = CAPTURED.reserve::<CapturedFrame>(0) else {
        count(Counter::CaptureRingFull);
        return;
    };
    let frame_len = ctx.data_end() - ctx.data();
    // 1..=CAPTURE_SNAP in a form the verifier can see (CAPTURE_SNAP is a power of
    // two; the frames that get here are at least 14 bytes long).
    let len = if frame_len > CAPTURE_SNAP {
        CAPTURE_SNAP
    } else {
        frame_len
    };
    let len = (len.wrapping_sub(1) & (CAPTURE_SNAP - 1)) + 1;
    let record = entry.as_mut_ptr();
    // SAFETY: `record` points at the reserved entry, ours until submitted; the
    // helper copies `len` (1..=CAPTURE_SNAP) bytes into its data array.
    let copied = unsafe {
        (*record).timestamp_ns = aya_ebpf::helpers::bpf_ktime_get_ns();
        (*record).key = key;
        (*record).frame_len = frame_len as u16;
        (*record).captured_len = len as u16;
        aya_ebpf::helpers::bpf_xdp_load_bytes(
            ctx.ctx,
            0,
            (*record).data.as_mut_ptr() as *mut core::ffi::c_void,
            len as u32,
        ) == 0
    };
    if copied {
        count(Counter::Captured);
        entry.submit(0);
    } else {
        entry.discard(0);
    }
}

/// Counts a verdict and hands a reply to userspace; `pass` says whether the kernel
/// should see the frame too.
#[inline(always)]
fn deliver(verdict: Verdict, pass: impl Fn(&ReplyRecord) -> bool) -> Option<u32> {
    let mut record = match verdict {
        Verdict::NotOurs => return None,
        Verdict::BadCookie => {
            count(Counter::BadCookie);
            return None;
        }
        Verdict::Reply(record) => record,
    };
    count(Counter::Matched);
    // SAFETY: a plain helper call with no arguments.
    record.timestamp_ns = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
    if REPLIES.output::<ReplyRecord>(&record, 0).is_err() {
        count(Counter::RingFull);
    }
    Some(if pass(&record) {
        xdp_action::XDP_PASS
    } else {
        xdp_action::XDP_DROP
    })
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
