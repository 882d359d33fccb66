//! The probe cookie: a keyed hash of a probe's addressing, carried in its sequence number.
//!
//! A reply acknowledges `cookie + 1`, so both the sender and the XDP classifier can tell
//! a reply to one of our probes from anything else without keeping per-probe state.
//! The hash is SipHash-2-4 over one 8-byte block (remote address, remote port, local
//! port), written without loops or tables so the eBPF verifier accepts it.

/// Four SipHash state words.
struct SipState {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
}

impl SipState {
    #[inline(always)]
    fn new(key: &[u64; 2]) -> Self {
        Self {
            v0: key[0] ^ 0x736f_6d65_7073_6575,
            v1: key[1] ^ 0x646f_7261_6e64_6f6d,
            v2: key[0] ^ 0x6c79_6765_6e65_7261,
            v3: key[1] ^ 0x7465_6462_7974_6573,
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13) ^ self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16) ^ self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21) ^ self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17) ^ self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    #[inline(always)]
    fn compress(&mut self, block: u64) {
        self.v3 ^= block;
        self.round();
        self.round();
        self.v0 ^= block;
    }
}

/// SipHash-2-4 of a single little-endian 8-byte message.
#[inline(always)]
pub fn siphash_u64(key: &[u64; 2], message: u64) -> u64 {
    let mut state = SipState::new(key);
    state.compress(message);
    // Final block: no remaining bytes, message length 8 in the top byte.
    state.compress(8u64 << 56);
    state.v2 ^= 0xff;
    state.round();
    state.round();
    state.round();
    state.round();
    state.v0 ^ state.v1 ^ state.v2 ^ state.v3
}

/// The 32-bit cookie for a probe from `local_port` to `remote_addr:remote_port`.
///
/// All values in host byte order. The probe's sequence number is this cookie; a
/// SYN+ACK or RST in reply acknowledges `cookie.wrapping_add(1)`.
#[inline(always)]
pub fn probe_cookie(key: &[u64; 2], remote_addr: u32, remote_port: u16, local_port: u16) -> u32 {
    let message = ((remote_addr as u64) << 32) | ((remote_port as u64) << 16) | local_port as u64;
    let hash = siphash_u64(key, message);
    (hash ^ (hash >> 32)) as u32
}

/// Maps a cookie to a port within `lo..=hi`.
#[inline(always)]
pub fn cookie_source_port(cookie: u32, lo: u16, hi: u16) -> u16 {
    let span = u32::from(hi.wrapping_sub(lo)) + 1;
    lo.wrapping_add(((cookie >> 16) % span) as u16)
}

/// The source port a stateless probe to `remote_addr:remote_port` is sent from: a keyed
/// choice within `lo..=hi` (the cookie of the pair with local port 0), so replies can be
/// checked by port as well as by sequence number. The sequence number is then
/// `probe_cookie(key, remote_addr, remote_port, <this port>)`.
#[inline(always)]
pub fn stateless_source_port(
    key: &[u64; 2],
    remote_addr: u32,
    remote_port: u16,
    lo: u16,
    hi: u16,
) -> u16 {
    cookie_source_port(probe_cookie(key, remote_addr, remote_port, 0), lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference vector from the SipHash paper's appendix, for an 8-byte message
    /// 00 01 .. 07 under key 00 01 .. 0f.
    #[test]
    fn matches_siphash_reference_vector() {
        let key = [
            u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]),
            u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]),
        ];
        let message = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(siphash_u64(&key, message), 0x93f5_f579_9a93_2462);
    }

    #[test]
    fn cookie_depends_on_every_field_and_the_key() {
        let key = [1, 2];
        let base = probe_cookie(&key, 0xc612_0002, 80, 40000);
        assert_ne!(base, probe_cookie(&key, 0xc612_0003, 80, 40000));
        assert_ne!(base, probe_cookie(&key, 0xc612_0002, 81, 40000));
        assert_ne!(base, probe_cookie(&key, 0xc612_0002, 80, 40001));
        assert_ne!(base, probe_cookie(&[1, 3], 0xc612_0002, 80, 40000));
    }

    #[test]
    fn source_ports_stay_in_range() {
        for cookie in [0u32, 1, 0xffff_ffff, 0x1234_5678, 0x8000_0000] {
            let port = cookie_source_port(cookie, 40000, 59999);
            assert!((40000..=59999).contains(&port));
            assert_eq!(cookie_source_port(cookie, 50000, 50000), 50000);
            let _ = cookie_source_port(cookie, 1024, 65535);
        }
    }
}
