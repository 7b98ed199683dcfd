//! The local time zone (`TZ`) for log timestamps and the access log.
//!
//! SWAG's image applies `TZ` to nginx's `$time_local` and to its logs; the
//! scratch image moat ships has no `/usr/share/zoneinfo`, so moat carries
//! each IANA zone's current rule as data ([`zones.tsv`](zones.rs)) and
//! evaluates it ([`posix`]). `TZ` may also be a POSIX TZ string itself
//! (`CET-1CEST,M3.5.0,M10.5.0/3`), as glibc accepts.

mod posix;
mod zones;

use std::sync::Arc;

pub use posix::{civil_from_days, days_from_civil};

/// `2026-12-03T17:04:05Z` for seconds since the epoch: how moat writes a
/// certificate's dates in logs and `moat certs` (never a raw number).
pub fn date_utc(unix: i64) -> String {
    let (y, mo, d) = civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A time zone moat stamps times in; cheap to clone.
#[derive(Debug, Clone)]
pub struct LocalZone {
    name: Arc<str>,
    rule: Arc<posix::Rule>,
}

/// `TZ` names no zone moat knows and is not a POSIX TZ string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TZ={0:?} is neither an IANA time zone name (such as Europe/Paris) nor a POSIX TZ string; times are logged in UTC")]
pub struct UnknownZone(pub String);

impl LocalZone {
    /// UTC, the default.
    pub fn utc() -> Self {
        LocalZone {
            name: Arc::from("UTC"),
            rule: Arc::new(posix::Rule::parse("UTC0").expect("UTC0 is a rule")),
        }
    }

    /// The zone `TZ` names (a leading `:` is allowed, as in POSIX).
    pub fn from_tz(tz: &str) -> Result<Self, UnknownZone> {
        let name = tz.trim().trim_start_matches(':');
        let rule = zones::rule_of(name)
            .and_then(posix::Rule::parse)
            .or_else(|| posix::Rule::parse(name))
            .ok_or_else(|| UnknownZone(tz.to_string()))?;
        Ok(LocalZone {
            name: Arc::from(name),
            rule: Arc::new(rule),
        })
    }

    /// The zone's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Offset from UTC, seconds east, at `unix` seconds since the epoch.
    pub fn offset_at(&self, unix: i64) -> i32 {
        self.rule.offset_at(unix)
    }

    /// RFC 3339 with microseconds and the zone's offset at that instant
    /// (`2026-12-03T17:04:05.123456+01:00`; `Z` for UTC).
    pub fn rfc3339(&self, unix: i64, nanos: u32) -> String {
        let off = self.offset_at(unix);
        let local = unix + i64::from(off);
        let (y, mo, d) = civil_from_days(local.div_euclid(86_400));
        let s = local.rem_euclid(86_400);
        let zone = if off == 0 {
            "Z".to_string()
        } else {
            let a = off.unsigned_abs();
            format!(
                "{}{:02}:{:02}",
                if off < 0 { '-' } else { '+' },
                a / 3600,
                a % 3600 / 60
            )
        };
        format!(
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}{zone}",
            s / 3600,
            s % 3600 / 60,
            s % 60,
            nanos / 1000
        )
    }
}

impl tracing_subscriber::fmt::time::FormatTime for LocalZone {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        w.write_str(&self.rfc3339(now.as_secs() as i64, now.subsec_nanos()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_posix_strings_are_zones_and_others_are_refused() {
        let paris = LocalZone::from_tz("Europe/Paris").unwrap();
        // 2026-07-01T12:00:00Z
        let t = days_from_civil(2026, 7, 1) * 86_400 + 12 * 3600;
        assert_eq!(paris.rfc3339(t, 5_000), "2026-07-01T14:00:00.000005+02:00");
        let ny = LocalZone::from_tz(":America/New_York").unwrap();
        assert_eq!(ny.rfc3339(t, 0), "2026-07-01T08:00:00.000000-04:00");
        let custom = LocalZone::from_tz("IST-5:30").unwrap();
        assert_eq!(custom.rfc3339(t, 0), "2026-07-01T17:30:00.000000+05:30");
        assert_eq!(
            LocalZone::utc().rfc3339(t, 0),
            "2026-07-01T12:00:00.000000Z"
        );
        assert!(LocalZone::from_tz("Mars/Olympus").is_err());
        assert_eq!(date_utc(1_954_047_203), "2031-12-03T06:53:23Z");
    }
}
