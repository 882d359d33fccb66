//! The sweep host's UDP answerer: every datagram to UDP 53 or 161 of any of the host's
//! addresses (the whole catch-all range is local there, an AnyIP route) is answered
//! with its own bytes, from the address it was sent to, so UDP sweeps of the range
//! find those ports open. `cargo xtask lab up` starts it (this same binary, `xtask
//! any-address-udp`) in the sweep host's namespace, in the background.
//!
//! A socket bound to the wildcard address answers from the interface's address unless
//! told otherwise: the destination of each datagram is read (`IP_PKTINFO`) and named
//! as the reply's source.

use anyhow::{bail, Context, Result};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// The ports answered on every address.
pub const PORTS: &[u16] = &[53, 161];

/// Answers on every port of [`PORTS`] until killed.
pub fn serve() -> Result<()> {
    let mut threads = Vec::new();
    for &port in PORTS {
        let socket = UdpSocket::bind(("0.0.0.0", port))
            .with_context(|| format!("binding UDP port {port}"))?;
        set_option(&socket, libc::IPPROTO_IP, libc::IP_PKTINFO, 1, "IP_PKTINFO")?;
        // The default buffer (~200 datagrams) overflowed when the answerer was kept
        // off the CPU for a few tens of milliseconds on a loaded 2-CPU machine, losing
        // requests that a test then missed; root may force a larger one.
        set_option(
            &socket,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            RECEIVE_BUFFER_BYTES,
            "SO_RCVBUFFORCE",
        )?;
        threads.push(std::thread::spawn(move || answer(&socket)));
    }
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("an answering thread panicked"))??;
    }
    Ok(())
}

/// Each socket's receive buffer: room for tens of thousands of queued requests.
const RECEIVE_BUFFER_BYTES: libc::c_int = 16 << 20;

/// Sets the integer socket option `name` of `level` on `socket` to `value`.
fn set_option(
    socket: &UdpSocket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
    what: &str,
) -> Result<()> {
    // SAFETY: a valid socket, option value and length.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Control-message room for one `in_pktinfo`, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; 64]);

fn answer(socket: &UdpSocket) -> Result<()> {
    let fd = socket.as_raw_fd();
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: all-zero is a valid sockaddr_in and msghdr.
        let mut peer: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut control = Control([0; 64]);
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut peer as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len();
        // SAFETY: every pointer in `msg` points at live buffers of the given sizes.
        let len = unsafe { libc::recvmsg(fd, &mut msg, 0) };
        if len < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("recvmsg");
        }
        let Some(to) = destination(&msg) else {
            continue;
        };
        reply(fd, &peer, to, &buf[..len as usize]);
    }
}

/// The destination address of the datagram `msg` received, from its `IP_PKTINFO`.
fn destination(msg: &libc::msghdr) -> Option<libc::in_addr> {
    // SAFETY: `msg` was filled by recvmsg; the CMSG macros stay within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IP && (*cmsg).cmsg_type == libc::IP_PKTINFO {
                let info = libc::CMSG_DATA(cmsg)
                    .cast::<libc::in_pktinfo>()
                    .read_unaligned();
                return Some(info.ipi_addr);
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

/// Sends `payload` back to `peer` from `from`; a failed reply is dropped (UDP).
fn reply(fd: i32, peer: &libc::sockaddr_in, from: libc::in_addr, payload: &[u8]) {
    let mut control = Control([0; 64]);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: all-zero is a valid msghdr; every pointer set below points at live
    // buffers, and the control message fits `control` (CMSG_SPACE of in_pktinfo).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (peer as *const libc::sockaddr_in as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen =
            libc::CMSG_SPACE(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: from,
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        libc::CMSG_DATA(cmsg)
            .cast::<libc::in_pktinfo>()
            .write_unaligned(info);
        libc::sendmsg(fd, &msg, 0);
    }
}
