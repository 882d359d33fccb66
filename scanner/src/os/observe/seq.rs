//! nmap's SEQ test: how a host picks its initial sequence numbers (SP, GCD, ISR),
//! its IP IDs on the open port, the closed port and in echo replies (TI, CI, II, and
//! SS, whether TCP and ICMP share one counter), and how fast its TCP timestamps tick
//! (TS). The arithmetic is nmap 7.93's `makeTSeqFP`, `get_ipid_sequence_16` and
//! `identify_sequence`, down to which values are single precision and how a
//! negative value turns unsigned on x86-64.
//!
//! Only SEQ probes' SYN+ACKs carry ISNs and timestamps; IP IDs come from the replies
//! the replay gives them ([`IpIds`]).

use super::super::fingerprint::Test;
use scanner_common::wire::{TCP_FLAG_ACK, TCP_FLAG_RST, TCP_FLAG_SYN};
use std::time::Duration;

/// How many SEQ probes nmap sends.
const SEQ_PROBES: usize = 6;

/// What one SEQ probe's SYN+ACK said, nmap's way: an ISN of 0 marks an empty slot
/// (so a reply whose ISN is 0 is counted as no reply when the rates are computed).
#[derive(Clone, Copy, Debug, Default)]
struct IsnSample {
    isn: u32,
    /// TSval, 0 without a timestamp option.
    timestamp: u32,
    /// When its probe was sent.
    sent_at: Duration,
}

/// What the timestamp options of the SEQ replies said before any rate is measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TimestampKind {
    /// Every reply so far carried a non-zero TSval: the rate decides.
    #[default]
    Ticking,
    /// The latest reply that did not tick had a TSval of 0.
    Zero,
    /// The latest reply that did not tick had no timestamp option.
    Unsupported,
}

/// The fields of a reply to a SEQ probe that the SEQ test reads.
pub(super) struct SeqReplyFields {
    pub ip_id: u16,
    pub flags: u8,
    pub isn: u32,
    /// TSval, if the reply has a well-formed timestamp option.
    pub timestamp: Option<u32>,
}

/// The SEQ probes' replies, as they came.
#[derive(Debug, Default)]
pub(super) struct SeqReplies {
    samples: [IsnSample; SEQ_PROBES],
    timestamps: TimestampKind,
    /// The IP ID of the SEQ reply read last (0 before any).
    last_ip_id: u16,
}

impl SeqReplies {
    /// Takes a reply to SEQ probe `index` (0-based) sent at `sent_at`, as nmap's
    /// `processTSeqResp` does; true if it is a new sample (its IP ID then counts for
    /// TI). A reply with the IP ID of the one before it is taken for a duplicate, a
    /// RST or anything but a SYN+ACK is no sample, and a slot is filled once.
    pub(super) fn take(&mut self, index: usize, reply: &SeqReplyFields, sent_at: Duration) -> bool {
        if self.last_ip_id != 0 && reply.ip_id == self.last_ip_id {
            return false;
        }
        self.last_ip_id = reply.ip_id;
        if reply.flags & TCP_FLAG_RST != 0
            || reply.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK) != TCP_FLAG_SYN | TCP_FLAG_ACK
        {
            return false;
        }
        let Some(slot) = self.samples.get_mut(index) else {
            return false;
        };
        if slot.isn != 0 {
            return false;
        }
        match reply.timestamp {
            None => self.timestamps = TimestampKind::Unsupported,
            Some(0) => self.timestamps = TimestampKind::Zero,
            Some(_) => {}
        }
        *slot = IsnSample {
            isn: reply.isn,
            timestamp: reply.timestamp.unwrap_or(0),
            sent_at,
        };
        true
    }
}

/// IP IDs of the replies, by probe: SEQ probes (TI), T5–T7 (CI), the two echoes (II).
#[derive(Debug, Default)]
pub(super) struct IpIds {
    pub open_tcp: [Option<u16>; SEQ_PROBES],
    pub closed_tcp: [Option<u16>; 3],
    pub icmp: [Option<u16>; 2],
}

/// The SEQ test, or `None` when it has nothing to say.
pub(super) fn seq_test(replies: &SeqReplies, ip_ids: &IpIds) -> Option<Test> {
    let samples: Vec<IsnSample> = replies
        .samples
        .iter()
        .copied()
        .filter(|sample| sample.isn != 0)
        .collect();
    let mut test = Test::new("SEQ")?;
    if let Some(isn) = IsnStatistics::of(&samples) {
        test.set("SP", format!("{:X}", isn.predictability));
        test.set("GCD", format!("{:X}", isn.gcd));
        test.set("ISR", format!("{:X}", isn.rate));
    }
    let open: Vec<u16> = ip_ids.open_tcp.iter().flatten().copied().collect();
    let closed: Vec<u16> = ip_ids.closed_tcp.iter().flatten().copied().collect();
    let icmp: Vec<u16> = ip_ids.icmp.iter().flatten().copied().collect();
    let open_class = if open.len() >= 3 {
        IpIdClass::of(&open)
    } else {
        IpIdClass::Unknown
    };
    let closed_class = if closed.len() >= 2 {
        IpIdClass::of(&closed)
    } else {
        IpIdClass::Unknown
    };
    let icmp_class = if icmp.len() >= 2 {
        IpIdClass::of(&icmp)
    } else {
        IpIdClass::Unknown
    };
    for (attr, class, ids) in [
        ("TI", open_class, &open),
        ("CI", closed_class, &closed),
        ("II", icmp_class, &icmp),
    ] {
        if let Some(value) = class.value(ids) {
            test.set(attr, value);
        }
    }
    if open_class.counts_for_shared() && icmp_class.counts_for_shared() {
        test.set("SS", shared_sequence(&open, &icmp));
    }
    let timestamps = match replies.timestamps {
        TimestampKind::Zero => Some("0".to_string()),
        TimestampKind::Unsupported => Some("U".to_string()),
        TimestampKind::Ticking => timestamp_rate(&samples).map(|hz| format!("{:X}", ts_value(hz))),
    };
    if let Some(value) = timestamps {
        test.set("TS", value);
    }
    (!test.attrs.is_empty()).then_some(test)
}

/// SP, GCD and ISR, from at least four samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IsnStatistics {
    /// SP: eight times the binary log of the ISN rates' standard deviation.
    predictability: u32,
    /// GCD: the greatest common divisor of the ISN increments.
    gcd: u32,
    /// ISR: eight times the binary log of the mean ISN rate (per second).
    rate: u32,
}

impl IsnStatistics {
    fn of(samples: &[IsnSample]) -> Option<Self> {
        if samples.len() < 4 {
            return None;
        }
        let steps = samples.len() - 1;
        let increments: Vec<u32> = samples
            .windows(2)
            .map(|pair| closer_distance(pair[1].isn, pair[0].isn))
            .collect();
        // nmap keeps each rate in single precision and sums them in double.
        let rates: Vec<f32> = samples
            .windows(2)
            .zip(&increments)
            .map(|(pair, &increment)| {
                (f64::from(increment) * 1_000_000.0 / micros_between(pair) as f64) as f32
            })
            .collect();
        let mean = rates.iter().map(|&rate| f64::from(rate)).sum::<f64>() / steps as f64;
        let gcd = increments.iter().fold(0, |a, &b| gcd(a, b));
        if gcd == 0 {
            // The same ISN every time.
            return Some(Self {
                predictability: 0,
                gcd: 0,
                rate: 0,
            });
        }
        let rate = c_unsigned(log2(mean) * 8.0 + 0.5);
        // nmap divides by the GCD only when it is above 9, so that a stack whose
        // increments all happen to be even does not look twice as predictable.
        let divisor = if gcd > 9 { f64::from(gcd) } else { 1.0 };
        let variance = rates
            .iter()
            .map(|&rate| {
                let deviation = f64::from(rate) / divisor - mean / divisor;
                deviation * deviation
            })
            .sum::<f64>()
            / (samples.len() - 2) as f64;
        let deviation = variance.sqrt();
        let predictability = if deviation <= 1.0 {
            0
        } else {
            (log2(deviation) * 8.0 + 0.5) as u32
        };
        Some(Self {
            predictability,
            gcd,
            rate,
        })
    }
}

/// The mean rate (per second) at which the samples' TSvals grew between probes,
/// from at least two samples; `None` if they did not grow.
fn timestamp_rate(samples: &[IsnSample]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let steps = (samples.len() - 1) as f64;
    let hz = samples
        .windows(2)
        .map(|pair| {
            let ticks = f64::from(closer_distance(pair[1].timestamp, pair[0].timestamp));
            ticks / (micros_between(pair) as f64 / 1_000_000.0) / steps
        })
        .sum::<f64>();
    (hz > 0.0).then_some(hz)
}

/// TS for a timestamp clock ticking at `hz`: the binary log, rounded, but 1 up to
/// 5.66 Hz, 7 for 70–150 Hz and 8 for 150–350 Hz (nmap widens those classes around
/// the common 2, 100 and 200 Hz clocks).
fn ts_value(hz: f64) -> u32 {
    if hz <= 5.66 {
        1
    } else if hz > 70.0 && hz <= 150.0 {
        7
    } else if hz > 150.0 && hz <= 350.0 {
        8
    } else {
        c_unsigned(0.5 + log2(hz))
    }
}

/// How IP IDs grow from one reply to the next, nmap's classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IpIdClass {
    /// All zero (`Z`).
    Zero,
    /// The same non-zero value every time (written as the value).
    Constant,
    /// Random (`RD`): some step above 20,000 among three or more.
    Random,
    /// Random positive increments (`RI`).
    RandomIncrements,
    /// Steps that are multiples of 256 up to 5,120: a counter in the wrong byte
    /// order (`BI`).
    BrokenIncrement,
    /// Even steps (`I`).
    IncrementByTwo,
    /// Steps below ten (`I`).
    Increment,
    /// None of these: nmap leaves the attribute out.
    Unknown,
}

impl IpIdClass {
    /// The class of two or more IP IDs in the order their replies came.
    fn of(ids: &[u16]) -> Self {
        if ids.len() < 2 {
            return Self::Unknown;
        }
        let mut steps = Vec::with_capacity(ids.len() - 1);
        for pair in ids.windows(2) {
            // nmap subtracts in 32 bits: a step across the 16-bit wrap is huge, and
            // reads as random before it is cut back to 16 bits.
            let step = u32::from(pair[1]).wrapping_sub(u32::from(pair[0]));
            if ids.len() > 2 && step > 20_000 {
                return Self::Random;
            }
            steps.push(step & 0xffff);
        }
        if ids.iter().all(|&id| id == 0) {
            return Self::Zero;
        }
        if steps.iter().all(|&step| step == 0) {
            return Self::Constant;
        }
        if steps
            .iter()
            .any(|&step| step > 1000 && (step % 256 != 0 || step >= 25_600))
        {
            return Self::RandomIncrements;
        }
        if steps.iter().all(|&step| step <= 5120 && step % 256 == 0) {
            Self::BrokenIncrement
        } else if steps.iter().all(|&step| step % 2 == 0) {
            Self::IncrementByTwo
        } else if steps.iter().all(|&step| step <= 9) {
            Self::Increment
        } else {
            Self::Unknown
        }
    }

    /// The attribute's value for this class of `ids`, `None` to leave it out.
    fn value(self, ids: &[u16]) -> Option<String> {
        Some(match self {
            Self::Zero => "Z".into(),
            Self::Constant => format!("{:X}", ids.first()?),
            Self::Random => "RD".into(),
            Self::RandomIncrements => "RI".into(),
            Self::BrokenIncrement => "BI".into(),
            Self::IncrementByTwo | Self::Increment => "I".into(),
            Self::Unknown => return None,
        })
    }

    /// Whether SS is asked for this class (increments by two are not).
    fn counts_for_shared(self) -> bool {
        matches!(
            self,
            Self::Increment | Self::BrokenIncrement | Self::RandomIncrements
        )
    }
}

/// SS: `S` if the first echo reply's IP ID comes before the TCP replies' last one
/// plus three mean steps (one counter for both), `O` otherwise; in nmap's unsigned
/// 32-bit arithmetic.
fn shared_sequence(tcp: &[u16], icmp: &[u16]) -> &'static str {
    let (Some(&first), Some(&last), Some(&echo)) = (tcp.first(), tcp.last(), icmp.first()) else {
        return "O";
    };
    let steps = (tcp.len() as u32 - 1).max(1);
    let mean_step = u32::from(last).wrapping_sub(u32::from(first)) / steps;
    if u32::from(echo) < u32::from(last).wrapping_add(mean_step.wrapping_mul(3)) {
        "S"
    } else {
        "O"
    }
}

/// The distance between two 32-bit counters, whichever way round is shorter.
fn closer_distance(a: u32, b: u32) -> u32 {
    a.wrapping_sub(b).min(b.wrapping_sub(a))
}

/// Microseconds from the first sample's probe to the second's, at least 1 (nmap
/// divides by it); as nmap's unsigned long, so a negative span wraps.
fn micros_between(pair: &[IsnSample]) -> u64 {
    let span = pair[1].sent_at.as_micros() as i128 - pair[0].sent_at.as_micros() as i128;
    (span as u64).max(1)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The binary logarithm as nmap takes it (`log(x) / log(2.0)`).
fn log2(x: f64) -> f64 {
    x.ln() / 2f64.ln()
}

/// C's `(unsigned int)` of a double as x86-64 builds compute it: truncated to a
/// 64-bit integer, then cut to 32 bits (a negative value wraps).
fn c_unsigned(x: f64) -> u32 {
    x as i64 as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples of `isns` (and `timestamps`) from probes `gap_ms` apart.
    fn samples(isns: &[u32], timestamps: &[u32], gap_ms: u64) -> Vec<IsnSample> {
        isns.iter()
            .zip(timestamps.iter().chain(std::iter::repeat(&0)))
            .enumerate()
            .map(|(n, (&isn, &timestamp))| IsnSample {
                isn,
                timestamp,
                sent_at: Duration::from_millis(gap_ms * n as u64),
            })
            .collect()
    }

    #[test]
    fn ip_id_classes_are_nmaps() {
        let class = |ids: &[u16]| IpIdClass::of(ids);
        assert_eq!(class(&[0, 0, 0]), IpIdClass::Zero);
        assert_eq!(class(&[7, 7, 7]), IpIdClass::Constant);
        assert_eq!(
            IpIdClass::Constant.value(&[0x1f2a, 0x1f2a]).unwrap(),
            "1F2A"
        );
        assert_eq!(class(&[100, 101, 103, 104]), IpIdClass::Increment);
        assert_eq!(class(&[100, 102, 104]), IpIdClass::IncrementByTwo);
        // A repeated value among steps of one is an increment, not a constant.
        assert_eq!(class(&[100, 100, 101]), IpIdClass::Increment);
        assert_eq!(class(&[0x0100, 0x0200, 0x0400]), IpIdClass::BrokenIncrement);
        assert_eq!(class(&[1000, 2500, 2600]), IpIdClass::RandomIncrements);
        // A multiple of 256 above 1,000 is random only from 25,600 (here one step
        // of 5,376 = 21 × 256 is neither that nor a broken increment).
        assert_eq!(class(&[0, 5376, 5377]), IpIdClass::Unknown);
        assert_eq!(class(&[0, 25_600]), IpIdClass::RandomIncrements);
        assert_eq!(class(&[40_000, 100, 200]), IpIdClass::Random);
        assert_eq!(class(&[100, 150, 161]), IpIdClass::Unknown);
        assert_eq!(IpIdClass::Unknown.value(&[1, 2]), None);
    }

    #[test]
    fn a_step_across_the_wrap_is_random_among_three_but_small_between_two() {
        assert_eq!(IpIdClass::of(&[65_534, 65_535, 1]), IpIdClass::Random);
        assert_eq!(IpIdClass::of(&[65_535, 1]), IpIdClass::IncrementByTwo);
        // Between two, a big step is cut to 16 bits and judged as an increment.
        assert_eq!(IpIdClass::of(&[0x8000, 0x10]), IpIdClass::RandomIncrements);
    }

    #[test]
    fn isn_statistics_by_hand() {
        // Increments 1000, 3000, 1000, 3000, 1000 every 100 ms: rates 10,000 and
        // 30,000 a second, mean 18,000; GCD 1000 (> 9, so divided out: 10 and 30
        // about 18, squares 3 × 64 + 2 × 144 = 480, over 4 = 120, root 10.954).
        let isns = [5000, 6000, 9000, 10_000, 13_000, 14_000];
        let stats = IsnStatistics::of(&samples(&isns, &[], 100)).unwrap();
        // ISR = round(8 × log2 18,000 = 113.09); SP = round(8 × log2 10.954 = 27.63).
        assert_eq!(
            stats,
            IsnStatistics {
                predictability: 28,
                gcd: 1000,
                rate: 113
            }
        );
        // Steady increments of 64,000 every 100 ms: no deviation at all.
        let isns = [1, 64_001, 128_001, 192_001];
        let stats = IsnStatistics::of(&samples(&isns, &[], 100)).unwrap();
        // 640,000 a second: 8 × log2 = 154.3.
        assert_eq!(
            (stats.predictability, stats.gcd, stats.rate),
            (0, 64_000, 154)
        );
    }

    #[test]
    fn isn_increments_take_the_shorter_way_round_and_small_gcds_stay() {
        // Down by 2, up by 4, up by 2 (across the 32-bit wrap): increments 2, 4, 2.
        let isns = [10, 8, 12, 14];
        let stats = IsnStatistics::of(&samples(&isns, &[], 100)).unwrap();
        assert_eq!(stats.gcd, 2);
        // Rates 20, 40, 20 a second, mean 26.67: ISR = round(8 × 4.737) = 38; GCD 2
        // is not divided out: deviations −6.67, 13.33, −6.67, squares 266.7 over 2,
        // root 11.55, SP = round(8 × 3.529) = 28.
        assert_eq!((stats.rate, stats.predictability), (38, 28));
        let wrapped = [u32::MAX - 1, 0, 2, 4];
        assert_eq!(
            IsnStatistics::of(&samples(&wrapped, &[], 100)).unwrap().gcd,
            2
        );
        // Three samples are not enough; the same ISN four times is GCD 0.
        assert_eq!(IsnStatistics::of(&samples(&isns[..3], &[], 100)), None);
        let same = IsnStatistics::of(&samples(&[9, 9, 9, 9], &[], 100)).unwrap();
        assert_eq!((same.predictability, same.gcd, same.rate), (0, 0, 0));
    }

    #[test]
    fn timestamp_rates_and_their_classes() {
        let rate = |ticks: u32| {
            let stamps: Vec<u32> = (0..6).map(|n| 1000 + n * ticks).collect();
            timestamp_rate(&samples(&[1, 2, 3, 4, 5, 6], &stamps, 100)).map(ts_value)
        };
        // Ticks per 100 ms: 10 → 100 Hz (7), 100 → 1000 Hz (log2 9.97 → A),
        // 25 → 250 Hz (8), 0 → no rate, a quarter tick → 2.5 Hz (1), 3 → 30 Hz (5).
        assert_eq!(rate(10), Some(7));
        assert_eq!(rate(100), Some(10));
        assert_eq!(rate(25), Some(8));
        assert_eq!(rate(0), None);
        assert_eq!(rate(3), Some(5));
        let slow = samples(&[1, 2], &[40, 41], 400);
        assert_eq!(timestamp_rate(&slow).map(ts_value), Some(1));
        assert_eq!(timestamp_rate(&slow[..1]), None);
        // Per-connection random offsets (Linux): jumps of 835,384,787 and 497,142,679
        // ticks (the shorter way round) per 100 ms, 6.66 GHz: log2 32.63 → 0x21.
        let random = samples(&[1, 2, 3], &[0x2fb2_0f68, 0x617d_093b, 0x43db_3da4], 100);
        let hz = timestamp_rate(&random).unwrap();
        assert_eq!(ts_value(hz), 0x21);
    }

    /// SEQ replies of these ISNs and TSvals (`None`: no option), 100 ms apart.
    fn replies(isns: &[u32], timestamps: &[Option<u32>]) -> SeqReplies {
        let mut replies = SeqReplies::default();
        for (n, (&isn, &timestamp)) in isns.iter().zip(timestamps).enumerate() {
            let fields = SeqReplyFields {
                ip_id: 0,
                flags: TCP_FLAG_SYN | TCP_FLAG_ACK,
                isn,
                timestamp,
            };
            assert!(replies.take(n, &fields, Duration::from_millis(100 * n as u64)));
        }
        replies
    }

    #[test]
    fn the_timestamp_kind_is_the_last_reply_that_did_not_tick() {
        let isns = [1, 2, 3, 4];
        let test = |stamps: &[Option<u32>]| seq_test(&replies(&isns, stamps), &IpIds::default());
        let kind = |stamps: &[Option<u32>]| test(stamps).unwrap().get("TS").map(str::to_string);
        assert_eq!(
            kind(&[Some(1), None, Some(3), Some(4)]).as_deref(),
            Some("U")
        );
        assert_eq!(
            kind(&[None, Some(0), Some(3), Some(4)]).as_deref(),
            Some("0")
        );
        assert_eq!(
            kind(&[Some(0), None, Some(3), Some(4)]).as_deref(),
            Some("U")
        );
        assert_eq!(
            kind(&[Some(5); 4]),
            None,
            "a clock that stands still has no rate"
        );
        // One reply is too few for SP, GCD and ISR but says TS=U.
        let lone = seq_test(&replies(&[7], &[None]), &IpIds::default()).unwrap();
        assert_eq!(lone.to_string(), "SEQ(TS=U)");
        assert_eq!(seq_test(&SeqReplies::default(), &IpIds::default()), None);
    }

    #[test]
    fn a_reply_is_a_sample_once_and_not_when_it_repeats_the_ip_id_or_resets() {
        let mut replies = SeqReplies::default();
        let mut fields = SeqReplyFields {
            ip_id: 0x1234,
            flags: TCP_FLAG_SYN | TCP_FLAG_ACK,
            isn: 99,
            timestamp: Some(1),
        };
        assert!(replies.take(0, &fields, Duration::ZERO));
        // The same IP ID again: a duplicate, even for another probe.
        assert!(!replies.take(1, &fields, Duration::ZERO));
        fields.ip_id = 0x1235;
        assert!(!replies.take(0, &fields, Duration::ZERO), "slot 0 is full");
        fields.ip_id = 0x1236;
        fields.flags = TCP_FLAG_RST | TCP_FLAG_ACK;
        assert!(!replies.take(2, &fields, Duration::ZERO));
        fields.ip_id = 0x1237;
        fields.flags = TCP_FLAG_SYN | TCP_FLAG_ACK;
        assert!(replies.take(3, &fields, Duration::ZERO));
        assert!(!replies.take(SEQ_PROBES, &fields, Duration::ZERO));
    }

    #[test]
    fn shared_ip_id_sequence() {
        let ids = |open: &[u16], icmp: &[u16]| {
            let mut ids = IpIds::default();
            for (slot, &id) in ids.open_tcp.iter_mut().zip(open) {
                *slot = Some(id);
            }
            for (slot, &id) in ids.icmp.iter_mut().zip(icmp) {
                *slot = Some(id);
            }
            ids
        };
        let seq = |open: &[u16], icmp: &[u16]| {
            seq_test(&SeqReplies::default(), &ids(open, icmp))
                .unwrap()
                .to_string()
        };
        // TCP 100..105 step 1, echoes just after: one counter.
        assert_eq!(
            seq(&[100, 101, 102, 103, 104, 105], &[106, 107]),
            "SEQ(TI=I%II=I%SS=S)"
        );
        // Echoes far ahead: another counter.
        assert_eq!(
            seq(&[100, 101, 102, 103, 104, 105], &[9000, 9001]),
            "SEQ(TI=I%II=I%SS=O)"
        );
        // Steps of two are `I` but SS is not asked.
        assert_eq!(seq(&[100, 102, 104], &[106, 108]), "SEQ(TI=I%II=I)");
        // Two TCP IP IDs are too few for TI; random IDs give no SS.
        assert_eq!(seq(&[100, 101], &[5, 6]), "SEQ(II=I)");
        assert_eq!(seq(&[100, 30_000, 9], &[0, 0]), "SEQ(TI=RD%II=Z)");
    }

    #[test]
    fn unsigned_conversion_wraps_as_on_x86_64() {
        assert_eq!(c_unsigned(154.7), 154);
        assert_eq!(c_unsigned(-0.5), 0);
        assert_eq!(c_unsigned(-3.2), 0xFFFF_FFFD);
    }
}
