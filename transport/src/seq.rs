//! TCP sequence numbers with wrapping comparison (RFC 9293 §3.4, RFC 1982 style): `a < b`
//! means `b` is ahead of `a` by less than 2^31.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A 32-bit TCP sequence number; comparisons and differences wrap.
///
/// ```
/// use ringtcp_transport::SeqNum;
/// let a = SeqNum(u32::MAX - 1);
/// let b = a + 4;
/// assert_eq!(b, SeqNum(2));
/// assert!(a < b);
/// assert_eq!(b - a, 4);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance from `other` to `self`.
    #[inline]
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The later of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.diff(other) >= 0 { self } else { other }
    }

    /// The earlier of two sequence numbers.
    #[inline]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.diff(other) <= 0 { self } else { other }
    }

    /// `lo <= self < hi` in sequence space.
    #[inline]
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        self.0.wrapping_sub(lo.0) < hi.0.wrapping_sub(lo.0)
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl PartialOrd for SeqNum {
    #[inline]
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNum {
    #[inline]
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn sub(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs as u32))
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = usize;
    /// The forward distance from `rhs` to `self`; zero if `rhs` is ahead.
    #[inline]
    fn sub(self, rhs: SeqNum) -> usize {
        let d = self.diff(rhs);
        if d < 0 { 0 } else { d as usize }
    }
}
