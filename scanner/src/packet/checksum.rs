//! The Internet checksum (RFC 1071): a ones'-complement sum of 16-bit words, kept
//! unfolded in a `u32` so that constant parts of a header can be summed once and
//! the per-probe fields added later.

/// Adds `data` (big-endian 16-bit words, an odd last byte padded with zero) to `sum`.
pub fn add_bytes(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    fold_carries(sum)
}

/// Adds a 32-bit value as two 16-bit words.
pub fn add_u32(sum: u32, value: u32) -> u32 {
    fold_carries(sum + (value >> 16) + (value & 0xffff))
}

/// Adds a 16-bit word.
pub fn add_u16(sum: u32, value: u16) -> u32 {
    fold_carries(sum + u32::from(value))
}

/// Folds carries back in, keeping the sum small enough for more additions.
fn fold_carries(mut sum: u32) -> u32 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// The checksum field's value for a running sum.
pub fn finish(sum: u32) -> u16 {
    !(fold_carries(sum) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let sum = add_bytes(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(sum, 0xddf2);
        assert_eq!(finish(sum), !0xddf2);
    }

    #[test]
    fn split_sums_equal_whole_sums() {
        let data = [
            0x45u8, 0x00, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0xff, 0x06, 0xc6, 0x12,
        ];
        let whole = add_bytes(0, &data);
        let split = add_u32(
            add_bytes(0, &data[..8]),
            u32::from_be_bytes([0xff, 0x06, 0xc6, 0x12]),
        );
        assert_eq!(whole, split);
        assert_eq!(add_u16(add_bytes(0, &data[..10]), 0xc612), whole);
    }
}
