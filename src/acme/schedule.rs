//! `RenewalSchedule` decisions, pure: when a certificate is due, how long to
//! back off after failures, how much jitter to add.

use std::time::Duration;

use super::config::RenewThreshold;

/// The moment (seconds since the epoch) a certificate valid from
/// `not_before` to `not_after` becomes due under `threshold`.
pub fn due_at(not_before: i64, not_after: i64, threshold: RenewThreshold) -> i64 {
    match threshold {
        RenewThreshold::RemainingFraction(f) => {
            let lifetime = (not_after - not_before).max(0) as f64;
            not_after - (lifetime * f.clamp(0.0, 1.0)) as i64
        }
        RenewThreshold::Before(d) => not_after - d.as_secs() as i64,
    }
}

/// Whether the certificate is due at `now`.
pub fn is_due(not_before: i64, not_after: i64, threshold: RenewThreshold, now: i64) -> bool {
    now >= due_at(not_before, not_after, threshold)
}

/// Delay before retry number `failures` (1 = first failure): `base`
/// doubled each time, capped at `max`.
pub fn backoff(failures: u32, base: Duration, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << exp).min(max)
}

/// Up to a tenth of `interval` (at most an hour) of random extra delay, so
/// many instances don't hit the CA in the same second.
pub fn jitter(interval: Duration) -> Duration {
    let cap = (interval / 10).min(Duration::from_secs(3600));
    let ms = cap.as_millis() as u64;
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::random::<u64>() % ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn ninety_day_cert_is_due_with_thirty_days_left() {
        let t = RenewThreshold::default();
        assert_eq!(due_at(0, 90 * DAY, t), 60 * DAY);
        assert!(!is_due(0, 90 * DAY, t, 60 * DAY - 1));
        assert!(is_due(0, 90 * DAY, t, 60 * DAY));
    }

    #[test]
    fn short_lived_cert_adapts_to_its_lifetime() {
        assert_eq!(due_at(0, 6 * DAY, RenewThreshold::default()), 4 * DAY);
    }

    #[test]
    fn fixed_threshold_counts_back_from_expiry() {
        let t = RenewThreshold::Before(Duration::from_secs(100));
        assert_eq!(due_at(0, 1000, t), 900);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(300);
        let m = Duration::from_secs(3600);
        assert_eq!(backoff(1, b, m), b);
        assert_eq!(backoff(2, b, m), b * 2);
        assert_eq!(backoff(3, b, m), b * 4);
        assert_eq!(backoff(10, b, m), m);
    }

    #[test]
    fn jitter_stays_under_a_tenth() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(1000)) < Duration::from_secs(100));
        }
    }
}
