//! The waiting room's arithmetic, without I/O: how far the line advances, who is skipped, and
//! what a place in line is told. The clock is an argument (milliseconds).
//!
//! The line works as AWS's Virtual Waiting Room does: every arrival takes the next position, and
//! a serving counter moves through the positions at the configured rate (admissions a second).
//! Credit accrues at that rate while the line waits, capped at [`BURST_SECS`] of it, so an idle
//! line does not hoard a burst larger than checkout can take. When the counter reaches a place
//! whose holder has not polled for `abandon_ms`, the place is skipped (abandoned) and costs no
//! credit: the rate counts buyers who are still there.

/// At most this many seconds of admissions accrue while nobody is waiting.
pub const BURST_SECS: u64 = 1;
/// At most this many places are examined per advance (skipped places included): a bounded loop
/// per request, whatever the size of the line.
pub const MAX_EXAMINED: usize = 2_000;

/// The state of one event's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// Admissions a second.
    pub rate: u64,
    /// A place not polled for this long when its turn comes is skipped.
    pub abandon_ms: u64,
    /// Accrued admissions, in thousandths.
    pub credit_milli: u64,
    /// When credit last accrued.
    pub last_ms: u64,
    /// Every position up to this one has had its turn (admitted or skipped).
    pub served: u64,
}

/// A place the counter may reach, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub position: u64,
    pub joined_ms: u64,
    pub seen_ms: u64,
}

/// What one advance did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advance {
    /// The new serving counter.
    pub served: u64,
    pub admitted: u64,
    pub abandoned: u64,
    /// The longest wait (join to admission) among those admitted now.
    pub max_wait_ms: u64,
}

impl Line {
    /// Credit accrued up to `now_ms` (capped), in whole admissions and thousandths.
    #[must_use]
    pub fn accrue(self, now_ms: u64) -> Self {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        let cap = self.rate.saturating_mul(1_000 * BURST_SECS);
        Self {
            credit_milli: self
                .credit_milli
                .saturating_add(self.rate.saturating_mul(elapsed))
                .min(cap),
            last_ms: now_ms.max(self.last_ms),
            ..self
        }
    }

    /// How many places to fetch for the next advance (the whole credit plus room to skip).
    #[must_use]
    pub fn places_to_examine(self) -> usize {
        usize::try_from(self.credit_milli / 1_000)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
            .saturating_add(16)
            .min(MAX_EXAMINED)
    }

    /// Moves the counter through `waiting` (the places after `served`, in order, as stored)
    /// with the accrued credit; returns the new line and what happened. Stops at the first place
    /// the credit cannot admit, or at a gap (a position not in `waiting`: not examined yet).
    #[must_use]
    pub fn advance(self, waiting: &[Waiting], now_ms: u64) -> (Self, Advance) {
        let mut line = self;
        let mut out = Advance {
            served: self.served,
            ..Advance::default()
        };
        for place in waiting {
            if place.position != line.served + 1 {
                break;
            }
            let gone = now_ms.saturating_sub(place.seen_ms) > line.abandon_ms;
            if gone {
                out.abandoned += 1;
            } else if line.credit_milli >= 1_000 {
                line.credit_milli -= 1_000;
                out.admitted += 1;
                out.max_wait_ms = out.max_wait_ms.max(now_ms.saturating_sub(place.joined_ms));
            } else {
                break;
            }
            line.served = place.position;
        }
        out.served = line.served;
        (line, out)
    }
}

/// What a place in line is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Places between this one and the counter (some may yet be skipped).
    pub ahead: u64,
    /// Seconds until its turn at the current rate, rounded up.
    pub wait_secs: u64,
}

/// The estimate for `position` in `line`.
#[must_use]
pub fn estimate(line: &Line, position: u64) -> Estimate {
    let ahead = position.saturating_sub(line.served).saturating_sub(1);
    let wait_secs = if line.rate == 0 {
        u64::MAX
    } else {
        // The place itself needs one admission's worth of credit too.
        let needed_milli = (ahead + 1)
            .saturating_mul(1_000)
            .saturating_sub(line.credit_milli);
        needed_milli.div_ceil(line.rate.saturating_mul(1_000))
    };
    Estimate { ahead, wait_secs }
}

/// Whether `count` earlier joins in the window leave room for one more under `limit`.
#[must_use]
pub fn join_allowed(count: u64, limit: u64) -> bool {
    count < limit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(rate: u64) -> Line {
        Line {
            rate,
            abandon_ms: 30_000,
            credit_milli: 0,
            last_ms: 0,
            served: 0,
        }
    }

    fn places(n: u64, joined_ms: u64, seen_ms: u64) -> Vec<Waiting> {
        (1..=n)
            .map(|position| Waiting {
                position,
                joined_ms,
                seen_ms,
            })
            .collect()
    }

    #[test]
    fn the_counter_moves_at_the_rate() {
        let l = line(10).accrue(500);
        assert_eq!(l.credit_milli, 5_000);
        let (l, a) = l.advance(&places(100, 0, 400), 500);
        assert_eq!((a.served, a.admitted, a.abandoned), (5, 5, 0));
        assert_eq!(a.max_wait_ms, 500);
        assert_eq!(l.credit_milli, 0);
        // Half a second later, five more; never more than the rate allows.
        let (_, a) = l.accrue(1_000).advance(&places(100, 0, 900)[5..], 1_000);
        assert_eq!((a.served, a.admitted), (10, 5));
    }

    #[test]
    fn an_idle_line_accrues_one_burst_only() {
        let l = line(10).accrue(3_600_000);
        assert_eq!(l.credit_milli, 10_000);
        let (_, a) = l.advance(&places(1_000, 0, 3_600_000), 3_600_000);
        assert_eq!(a.admitted, 10);
    }

    #[test]
    fn abandoned_places_are_skipped_without_credit() {
        let mut waiting = places(6, 0, 50_000);
        waiting[1].seen_ms = 1_000; // not polled for 59 s
        waiting[3].seen_ms = 1_000;
        let l = Line {
            credit_milli: 3_000,
            last_ms: 60_000,
            ..line(3)
        };
        let (l, a) = l.advance(&waiting, 60_000);
        assert_eq!((a.served, a.admitted, a.abandoned), (5, 3, 2));
        assert_eq!(l.credit_milli, 0);
        // The sixth waits for credit.
        assert_eq!(
            estimate(&l, 6),
            Estimate {
                ahead: 0,
                wait_secs: 1
            }
        );
    }

    #[test]
    fn a_gap_stops_the_counter() {
        let l = Line {
            credit_milli: 5_000,
            ..line(5)
        };
        let waiting = [
            Waiting {
                position: 1,
                joined_ms: 0,
                seen_ms: 0,
            },
            Waiting {
                position: 3,
                joined_ms: 0,
                seen_ms: 0,
            },
        ];
        let (_, a) = l.advance(&waiting, 0);
        assert_eq!(a.served, 1);
    }

    #[test]
    fn estimates_count_the_places_ahead() {
        let l = Line {
            served: 100,
            ..line(20)
        };
        assert_eq!(
            estimate(&l, 101),
            Estimate {
                ahead: 0,
                wait_secs: 1
            }
        );
        assert_eq!(
            estimate(&l, 141),
            Estimate {
                ahead: 40,
                wait_secs: 3
            }
        );
        assert_eq!(estimate(&l, 50).ahead, 0);
        assert_eq!(estimate(&line(0), 5).wait_secs, u64::MAX);
    }

    #[test]
    fn the_examined_places_are_bounded() {
        assert_eq!(line(10).places_to_examine(), 16);
        let rich = Line {
            credit_milli: u64::MAX,
            ..line(u64::MAX)
        };
        assert_eq!(rich.places_to_examine(), MAX_EXAMINED);
        assert!(join_allowed(4, 5));
        assert!(!join_allowed(5, 5));
    }

    #[test]
    fn the_clock_going_back_accrues_nothing() {
        let l = Line {
            last_ms: 10_000,
            ..line(10)
        };
        assert_eq!(l.accrue(5_000).credit_milli, 0);
        assert_eq!(l.accrue(5_000).last_ms, 10_000);
    }
}
