//! An interface's XDP slot through rtnetlink: which programs are attached there and in
//! which mode, and attaching or detaching a program by its file descriptor the way
//! kernels without bpf_link do it, an attachment that outlives the process that made
//! it. The loader (`io::xdp`) uses it to find a classifier a killed scanner left
//! behind on such a kernel; tests use it to leave one behind.
//!
//! It does not load programs or decide whose a program is: that is `io::xdp`'s.

use anyhow::{Context, Result};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const NETLINK_ROUTE: i32 = 0;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HEADER_LEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
const IFLA_XDP_EXPECTED_FD: u16 = 8;
const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1;
const XDP_FLAGS_REPLACE: u32 = 1 << 4;

/// Where an XDP program runs on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotMode {
    /// Native, in the driver.
    Driver,
    /// Generic (SKB).
    Skb,
    /// Offloaded to the NIC.
    Hardware,
}

impl SlotMode {
    /// The `XDP_FLAGS_*` mode bit.
    fn flag(self) -> u32 {
        match self {
            Self::Skb => 1 << 1,
            Self::Driver => 1 << 2,
            Self::Hardware => 1 << 3,
        }
    }
}

/// A program attached to an interface: its id and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    pub prog_id: u32,
    pub mode: SlotMode,
}

/// The programs attached to interface `ifindex` (one per mode).
pub fn attached(ifindex: u32) -> Result<Vec<Attached>> {
    let socket = open().context("opening a netlink socket")?;
    let request = message(RTM_GETLINK, NLM_F_REQUEST, ifindex, &[]);
    send(&socket, &request).context("asking the kernel for the interface's XDP programs")?;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let len = recv(&socket, &mut buf).context("reading the interface's XDP programs")?;
        for (kind, body) in messages(&buf[..len]) {
            match kind {
                RTM_NEWLINK => return Ok(parse_link(body)),
                NLMSG_ERROR => {
                    errno_of(body)?;
                }
                NLMSG_DONE => return Ok(Vec::new()),
                _ => {}
            }
        }
    }
}

/// Attaches program `fd` to interface `ifindex` in `mode` (or detaches what is there,
/// for `None`), as kernels without bpf_link do: nothing detaches it when its process
/// dies. With `expected`, only if that program is the one attached now.
pub fn set(
    ifindex: u32,
    fd: Option<BorrowedFd<'_>>,
    mode: SlotMode,
    expected: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut flags = mode.flag();
    let mut xdp = Vec::new();
    attribute(
        &mut xdp,
        IFLA_XDP_FD,
        &fd.map_or(-1, |fd| fd.as_raw_fd()).to_ne_bytes(),
    );
    match expected {
        Some(old) => {
            flags |= XDP_FLAGS_REPLACE;
            attribute(
                &mut xdp,
                IFLA_XDP_EXPECTED_FD,
                &old.as_raw_fd().to_ne_bytes(),
            );
        }
        None if fd.is_some() => flags |= XDP_FLAGS_UPDATE_IF_NOEXIST,
        None => {}
    }
    attribute(&mut xdp, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
    let mut attrs = Vec::new();
    attribute(&mut attrs, IFLA_XDP | NLA_F_NESTED, &xdp);
    let socket = open()?;
    send(
        &socket,
        &message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, ifindex, &attrs),
    )?;
    let mut buf = vec![0u8; 8192];
    loop {
        let len = recv(&socket, &mut buf)?;
        for (kind, body) in messages(&buf[..len]) {
            if kind == NLMSG_ERROR {
                return errno_of(body);
            }
        }
    }
}

/// The XDP programs an `RTM_NEWLINK` body reports.
fn parse_link(body: &[u8]) -> Vec<Attached> {
    let mut found = Vec::new();
    let Some(attrs) = body.get(IFINFOMSG_LEN..) else {
        return found;
    };
    for (kind, value) in attributes(attrs) {
        if kind != IFLA_XDP {
            continue;
        }
        for (kind, value) in attributes(value) {
            let mode = match kind {
                IFLA_XDP_DRV_PROG_ID => SlotMode::Driver,
                IFLA_XDP_SKB_PROG_ID => SlotMode::Skb,
                IFLA_XDP_HW_PROG_ID => SlotMode::Hardware,
                _ => continue,
            };
            if let Some(id) = value.get(..4) {
                let prog_id = u32::from_ne_bytes(id.try_into().expect("four bytes"));
                if prog_id != 0 {
                    found.push(Attached { prog_id, mode });
                }
            }
        }
    }
    found
}

/// A netlink message: header, `ifinfomsg` for `ifindex`, then `attrs`.
fn message(kind: u16, flags: u16, ifindex: u32, attrs: &[u8]) -> Vec<u8> {
    let len = NLMSG_HEADER_LEN + IFINFOMSG_LEN + attrs.len();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    out.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    out.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    out.extend_from_slice(&[0; 8]); // flags, change
    out.extend_from_slice(attrs);
    out
}

/// Appends a netlink attribute (padded to four bytes).
fn attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// The attributes in `buf`: type (flags masked off) and value.
fn attributes(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes(buf.get(0..2)?.try_into().ok()?));
        let kind = u16::from_ne_bytes(buf.get(2..4)?.try_into().ok()?) & NLA_TYPE_MASK;
        let value = buf.get(4..len)?;
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((kind, value))
    })
}

/// The messages in a datagram: type and body.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u32::from_ne_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf.get(4..6)?.try_into().ok()?);
        let body = buf.get(NLMSG_HEADER_LEN..len)?;
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((kind, body))
    })
}

/// The error an `NLMSG_ERROR` body carries (0 is an acknowledgement).
fn errno_of(body: &[u8]) -> io::Result<()> {
    let code = body
        .get(0..4)
        .map(|b| i32::from_ne_bytes(b.try_into().expect("four bytes")))
        .ok_or_else(|| io::Error::other("a truncated netlink error"))?;
    match code {
        0 => Ok(()),
        code => Err(io::Error::from_raw_os_error(-code)),
    }
}

fn open() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned from here on.
    let fd: RawFd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn send(socket: &OwnedFd, message: &[u8]) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr_nl addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: the buffer and address are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn recv(socket: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    let len = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if len < 0 {
        return Err(io::Error::last_os_error());
    }
    if len == 0 {
        return Err(io::Error::other("the netlink socket closed"));
    }
    Ok(len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_programs_an_interface_reports() {
        // An RTM_NEWLINK body: ifinfomsg, IFLA_MTU, then IFLA_XDP with ATTACHED and
        // the per-mode ids (as the kernel writes them for one generic program).
        let mut xdp = Vec::new();
        attribute(&mut xdp, 2, &[2]); // IFLA_XDP_ATTACHED: generic
        attribute(&mut xdp, 6, &77u32.to_ne_bytes()); // IFLA_XDP_SKB_PROG_ID
        attribute(&mut xdp, 4, &77u32.to_ne_bytes()); // IFLA_XDP_PROG_ID
        let mut body = vec![0u8; IFINFOMSG_LEN];
        attribute(&mut body, 4, &1500u32.to_ne_bytes());
        attribute(&mut body, IFLA_XDP | NLA_F_NESTED, &xdp);
        assert_eq!(
            parse_link(&body),
            [Attached {
                prog_id: 77,
                mode: SlotMode::Skb
            }]
        );
        // Nothing attached; truncated and malformed bodies: nothing, no panic.
        let mut none = vec![0u8; IFINFOMSG_LEN];
        attribute(
            &mut none,
            IFLA_XDP | NLA_F_NESTED,
            &[5, 0, 2, 0, 0, 0, 0, 0],
        );
        assert_eq!(parse_link(&none), []);
        for cut in 0..body.len() {
            let _ = parse_link(&body[..cut]);
        }
        let mut bad = body.clone();
        bad[IFINFOMSG_LEN] = 0xff; // an attribute longer than the message
        let _ = parse_link(&bad);
    }

    #[test]
    fn messages_and_errors_come_apart() {
        let request = message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, 3, &[1, 2, 3, 4]);
        let parsed: Vec<(u16, &[u8])> = messages(&request).collect();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].0, RTM_SETLINK);
        assert_eq!(&parsed[0].1[4..8], &3i32.to_ne_bytes());
        assert!(errno_of(&0i32.to_ne_bytes()).is_ok());
        let busy = errno_of(&(-libc::EBUSY).to_ne_bytes()).unwrap_err();
        assert_eq!(busy.raw_os_error(), Some(libc::EBUSY));
        assert!(errno_of(&[1]).is_err());
    }
}
