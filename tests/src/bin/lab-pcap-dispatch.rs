//! `lab-pcap-dispatch pcap|packet N PER TARGET`: the other sides of `cargo xtask
//! bench scripts`, run inside the lab's scanner namespace. N waiters, each sending
//! PER echo requests to TARGET with its own ICMP identifier, one outstanding at a
//! time, and waiting for its replies, received one of two ways:
//! - `pcap`: one libpcap handle per waiter with a BPF filter for its identifier, all
//!   polled (what nmap's NSE does per raw-packet script);
//! - `packet`: one AF_PACKET socket with no filter, reading every frame and handing
//!   each echo reply to its waiter through a hash of the identifier (what a careful
//!   engine without XDP would do).
//!
//! Prints `replies=K` (or `opened=K` when opening the libpcap handles ran out of
//! time). A binary of its own, built after `cargo xtask setup` has installed libpcap,
//! so that xtask itself links no system library.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};
use xtask::bench_scripts::PCAP_BUDGET;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: lab-pcap-dispatch pcap|packet WAITERS PER_WAITER TARGET";
    anyhow::ensure!(args.len() == 4, "{usage}");
    let n: usize = args[1].parse().context(usage)?;
    let per: usize = args[2].parse().context(usage)?;
    let target: Ipv4Addr = args[3].parse().context(usage)?;
    raise_fd_limit(n as u64 + 64);
    let receiver = match args[0].as_str() {
        "pcap" => match open_pcap(n, target)? {
            Some(handles) => Receiver::Pcap(handles),
            None => return Ok(()),
        },
        "packet" => Receiver::packet(n, target)?,
        _ => anyhow::bail!("{usage}"),
    };
    run(receiver, n, per, target)
}

/// How the waiters' replies come in.
enum Receiver {
    /// One filtered libpcap handle per waiter, in waiter order.
    Pcap(Vec<pcap::Capture<pcap::Active>>),
    /// One unfiltered packet socket; the waiter of each ICMP identifier.
    Packet {
        socket: OwnedFd,
        waiters: HashMap<u16, usize>,
        target: Ipv4Addr,
        frame: Vec<u8>,
    },
}

impl Receiver {
    fn packet(n: usize, target: Ipv4Addr) -> Result<Self> {
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(protocol),
            )
        };
        anyhow::ensure!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        let iface = std::ffi::CString::new(xtask::lab::SCANNER_IFACE)?;
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(iface.as_ptr()) };
        anyhow::ensure!(ifindex != 0, "no interface {}", xtask::lab::SCANNER_IFACE);
        // SAFETY: an all-zero sockaddr_ll is valid; the fields that matter are set.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: a valid address of the stated size for the call's duration.
        let bound = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        anyhow::ensure!(bound == 0, "bind: {}", std::io::Error::last_os_error());
        // Room for a whole burst (10000 waiters answered at once): the default buffer
        // (net.core.rmem_max) drops most of it. SO_RCVBUFFORCE passes that cap (root).
        let size: libc::c_int = 64 << 20;
        for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: an int option of the stated size.
            let set = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    &size as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
            if set == 0 {
                break;
            }
        }
        Ok(Self::Packet {
            socket,
            waiters: (0..n).map(|i| (i as u16 + 1, i)).collect(),
            target,
            frame: vec![0; 2048],
        })
    }

    fn pollfds(&self) -> Vec<libc::pollfd> {
        let fd = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        match self {
            Self::Pcap(handles) => handles.iter().map(|h| fd(h.as_raw_fd())).collect(),
            Self::Packet { socket, .. } => vec![fd(socket.as_raw_fd())],
        }
    }

    /// Reads what the poll in `fds` found and marks the waiters that got a reply.
    fn receive(&mut self, fds: &[libc::pollfd], answered: &mut [bool]) {
        match self {
            Self::Pcap(handles) => {
                for (i, fd) in fds.iter().enumerate() {
                    if fd.revents & libc::POLLIN != 0 {
                        while let Ok(_packet) = handles[i].next_packet() {
                            answered[i] = true;
                        }
                    }
                }
            }
            Self::Packet {
                socket,
                waiters,
                target,
                frame,
            } => loop {
                // SAFETY: frame is a valid buffer of its length.
                let len = unsafe {
                    libc::recv(
                        socket.as_raw_fd(),
                        frame.as_mut_ptr() as *mut libc::c_void,
                        frame.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                if len <= 0 {
                    break;
                }
                if let Some(id) = echo_reply_id(&frame[..len as usize], *target) {
                    if let Some(&waiter) = waiters.get(&id) {
                        answered[waiter] = true;
                    }
                }
            },
        }
    }
}

/// The identifier of an Ethernet frame holding an ICMP echo reply from `from`.
fn echo_reply_id(frame: &[u8], from: Ipv4Addr) -> Option<u16> {
    let ip = frame.get(14..)?;
    if frame.get(12..14)? != [0x08, 0x00] || ip.first()? >> 4 != 4 || *ip.get(9)? != 1 {
        return None;
    }
    if ip.get(12..16)? != from.octets() {
        return None;
    }
    let icmp = ip.get(usize::from(ip[0] & 0x0f) * 4..)?.get(..8)?;
    (icmp[0] == 0).then(|| u16::from_be_bytes([icmp[4], icmp[5]]))
}

/// `n` libpcap handles, each filtered to its own identifier's echo replies from
/// `target`; `None` (having said so) when opening them ran out of time.
fn open_pcap(n: usize, target: Ipv4Addr) -> Result<Option<Vec<pcap::Capture<pcap::Active>>>> {
    let mut handles = Vec::with_capacity(n);
    let opening = Instant::now();
    for id in 1..=n {
        if opening.elapsed() > PCAP_BUDGET {
            // Opening a handle gets slower with every one open: at 10000 it takes
            // minutes before a packet is sent.
            println!(
                "opened={} stopped after {} s",
                id - 1,
                PCAP_BUDGET.as_secs()
            );
            return Ok(None);
        }
        let mut capture = pcap::Capture::from_device(xtask::lab::SCANNER_IFACE)?
            .immediate_mode(true)
            .buffer_size(64 * 1024)
            .snaplen(256)
            .open()
            .with_context(|| format!("opening libpcap handle {id}"))?
            .setnonblock()?;
        capture.filter(
            &format!(
                "icmp[icmptype] == icmp-echoreply and icmp[4:2] == {id} and src host {target}"
            ),
            true,
        )?;
        handles.push(capture);
    }
    Ok(Some(handles))
}

/// Runs the waiters: `per` echo requests per identifier, one outstanding per
/// identifier, replies through `receiver`. Prints `replies=K`.
fn run(mut receiver: Receiver, n: usize, per: usize, target: Ipv4Addr) -> Result<()> {
    // SAFETY: a plain raw ICMP socket; the kernel writes the IP header.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    anyhow::ensure!(sock >= 0, "raw socket: {}", std::io::Error::last_os_error());
    let send = |id: u16, seq: u16| {
        let mut packet = [8u8, 0, 0, 0, 0, 0, 0, 0];
        packet[4..6].copy_from_slice(&id.to_be_bytes());
        packet[6..8].copy_from_slice(&seq.to_be_bytes());
        let sum: u32 = packet
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        let folded = !(((sum & 0xffff) + (sum >> 16)) as u16);
        packet[2..4].copy_from_slice(&folded.to_be_bytes());
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(target).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: valid buffer and address for the call's duration.
        unsafe {
            libc::sendto(
                sock,
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                0,
                &addr as *const libc::sockaddr_in as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            )
        };
    };
    let mut fds = receiver.pollfds();
    let mut answered = vec![false; n];
    // Like the script threads: each identifier sends, waits for its reply (up to a
    // second), and sends the next.
    let mut sent_at = vec![Instant::now(); n];
    let mut next_seq = vec![1usize; n];
    if per > 0 {
        for (id, sent) in sent_at.iter_mut().enumerate() {
            send(id as u16 + 1, 1);
            *sent = Instant::now();
        }
    }
    let mut received = 0usize;
    let mut active = if per == 0 { 0 } else { n };
    let started = Instant::now();
    while active > 0 {
        if started.elapsed() > PCAP_BUDGET {
            println!("stopped after {} s", PCAP_BUDGET.as_secs());
            break;
        }
        // SAFETY: fds is a valid array of pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        receiver.receive(&fds, &mut answered);
        for fd in fds.iter_mut() {
            fd.revents = 0;
        }
        for i in 0..n {
            let got = std::mem::take(&mut answered[i]);
            let late = next_seq[i] <= per && sent_at[i].elapsed() > Duration::from_secs(1);
            if (got || late) && next_seq[i] <= per {
                received += usize::from(got);
                next_seq[i] += 1;
                if next_seq[i] > per {
                    active -= 1;
                } else {
                    send(i as u16 + 1, next_seq[i] as u16);
                    sent_at[i] = Instant::now();
                }
            }
        }
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(sock) };
    println!("replies={received}");
    Ok(())
}

fn raise_fd_limit(wanted: u64) {
    let limit = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: wanted,
    };
    // SAFETY: a valid rlimit; failure leaves the old limit, and opening then fails
    // with a message.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_identifier_of_echo_replies_from_the_target_only() {
        let target = Ipv4Addr::new(198, 18, 0, 10);
        let mut frame = vec![0u8; 14 + 20 + 8];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[14] = 0x45;
        frame[14 + 9] = 1;
        frame[14 + 12..14 + 16].copy_from_slice(&target.octets());
        frame[34 + 4..34 + 6].copy_from_slice(&513u16.to_be_bytes());
        assert_eq!(echo_reply_id(&frame, target), Some(513));
        assert_eq!(echo_reply_id(&frame, Ipv4Addr::new(198, 18, 0, 11)), None);
        assert_eq!(echo_reply_id(&frame[..40], target), None, "short");
        frame[34] = 8;
        assert_eq!(echo_reply_id(&frame, target), None, "a request");
    }
}
