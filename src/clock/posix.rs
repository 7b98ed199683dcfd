//! POSIX TZ strings (`CET-1CEST,M3.5.0,M10.5.0/3`): the rule a zone follows
//! now, which is all log timestamps need. Every TZif file ends with one for
//! times after its last transition, so this one small evaluator covers every
//! IANA zone from today on (history before the rule took effect is not
//! needed to stamp a log line). RFC 8536 §3.3 extensions are accepted:
//! transition times from −167 to 167 hours.

/// A parsed POSIX TZ string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Standard time's offset, seconds east of UTC.
    std_east: i32,
    /// Daylight saving time, when the zone has it.
    dst: Option<Dst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dst {
    east: i32,
    start: Transition,
    end: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Transition {
    date: Date,
    /// Local time of day of the change, seconds (may be negative or > 24h).
    time: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Date {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian1(u16),
    /// `n`: day 0..=365, February 29 counted.
    Julian0(u16),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Month { m: u8, w: u8, d: u8 },
}

impl Rule {
    /// Parses a POSIX TZ string; `None` when it is not one.
    pub fn parse(s: &str) -> Option<Rule> {
        let mut p = Parser {
            s: s.as_bytes(),
            i: 0,
        };
        p.name()?;
        let std_west = p.offset()?;
        if p.done() {
            return Some(Rule {
                std_east: -std_west,
                dst: None,
            });
        }
        p.name()?;
        let dst_west = if p.peek() == Some(b',') {
            std_west - 3600
        } else {
            p.offset()?
        };
        // No rule: POSIX leaves it to the implementation; the US rule is
        // the customary default (glibc).
        let (start, end) = if p.done() {
            (
                Transition {
                    date: Date::Month { m: 3, w: 2, d: 0 },
                    time: 7200,
                },
                Transition {
                    date: Date::Month { m: 11, w: 1, d: 0 },
                    time: 7200,
                },
            )
        } else {
            p.expect(b',')?;
            let start = p.transition()?;
            p.expect(b',')?;
            let end = p.transition()?;
            (start, end)
        };
        if !p.done() {
            return None;
        }
        Some(Rule {
            std_east: -std_west,
            dst: Some(Dst {
                east: -dst_west,
                start,
                end,
            }),
        })
    }

    /// The offset from UTC, seconds east, at `t` seconds since the epoch.
    pub fn offset_at(&self, t: i64) -> i32 {
        let Some(dst) = &self.dst else {
            return self.std_east;
        };
        let year = civil_from_days((t + i64::from(self.std_east)).div_euclid(86_400)).0;
        // DST starts at a local standard time and ends at a local DST time.
        let start = dst.start.instant(year) - i64::from(self.std_east);
        let end = dst.end.instant(year) - i64::from(dst.east);
        let in_dst = if start < end {
            t >= start && t < end
        } else {
            // Southern hemisphere: DST spans the new year.
            t < end || t >= start
        };
        if in_dst {
            dst.east
        } else {
            self.std_east
        }
    }
}

impl Transition {
    /// Seconds since the epoch of this transition in `year`, as if local
    /// time were UTC.
    fn instant(&self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        let day = match self.date {
            Date::Julian1(n) => {
                let n = i64::from(n) - 1;
                jan1 + n + i64::from(is_leap(year) && n >= 59)
            }
            Date::Julian0(n) => jan1 + i64::from(n),
            Date::Month { m, w, d } => {
                let first = days_from_civil(year, m, 1);
                // 1970-01-01 was a Thursday (4).
                let first_wday = (first + 4).rem_euclid(7);
                let mut mday =
                    1 + (i64::from(d) - first_wday).rem_euclid(7) + 7 * (i64::from(w) - 1);
                let len = days_in_month(year, m);
                while mday > len {
                    mday -= 7;
                }
                first + mday - 1
            }
        };
        day * 86_400 + i64::from(self.time)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.s.len()
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }
    /// `EST` (three or more letters) or `<-03>` (quoted, letters, digits, sign).
    fn name(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'<') {
            self.i += 1;
            while self.peek()?.is_ascii_alphanumeric() || matches!(self.peek()?, b'+' | b'-') {
                self.i += 1;
            }
            self.expect(b'>')?;
            return (self.i - start >= 5).then_some(());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        (self.i - start >= 3).then_some(())
    }
    fn number(&mut self, max_digits: usize) -> Option<i32> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) && self.i - start < max_digits {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    /// `[+-]hh[:mm[:ss]]`, in seconds (hours up to 167, RFC 8536).
    fn offset(&mut self) -> Option<i32> {
        let sign = match self.peek()? {
            b'-' => {
                self.i += 1;
                -1
            }
            b'+' => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        let h = self.number(3)?;
        let mut secs = h * 3600;
        for unit in [60, 1] {
            if self.peek() != Some(b':') {
                break;
            }
            self.i += 1;
            let v = self.number(2)?;
            if v > 59 {
                return None;
            }
            secs += v * unit;
        }
        (h <= 167).then_some(sign * secs)
    }
    fn transition(&mut self) -> Option<Transition> {
        let date = match self.peek()? {
            b'J' => {
                self.i += 1;
                let n = self.number(3)?;
                (1..=365).contains(&n).then_some(Date::Julian1(n as u16))?
            }
            b'M' => {
                self.i += 1;
                let m = self.number(2)?;
                self.expect(b'.')?;
                let w = self.number(1)?;
                self.expect(b'.')?;
                let d = self.number(1)?;
                ((1..=12).contains(&m) && (1..=5).contains(&w) && d <= 6).then_some(
                    Date::Month {
                        m: m as u8,
                        w: w as u8,
                        d: d as u8,
                    },
                )?
            }
            _ => {
                let n = self.number(3)?;
                (n <= 365).then_some(Date::Julian0(n as u16))?
            }
        };
        let time = if self.peek() == Some(b'/') {
            self.i += 1;
            self.offset()?
        } else {
            7200
        };
        Some(Transition { date, time })
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u8) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, m: u8, d: u8, hh: i64, mm: i64) -> i64 {
        days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60
    }

    #[test]
    fn civil_dates_round_trip() {
        for z in [-800_000, -1, 0, 1, 19_723, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2026, 12, 3), 20_790);
    }

    #[test]
    fn european_rule_changes_at_one_utc_on_the_last_sundays() {
        let paris = Rule::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2026: DST from Sunday 29 March 01:00 UTC to Sunday 25 October 01:00 UTC.
        assert_eq!(paris.offset_at(at(2026, 3, 29, 0, 59)), 3600);
        assert_eq!(paris.offset_at(at(2026, 3, 29, 1, 0)), 7200);
        assert_eq!(paris.offset_at(at(2026, 10, 25, 0, 59)), 7200);
        assert_eq!(paris.offset_at(at(2026, 10, 25, 1, 0)), 3600);
    }

    #[test]
    fn us_southern_fixed_and_extended_rules() {
        let ny = Rule::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2026: 8 March 07:00 UTC to 1 November 06:00 UTC.
        assert_eq!(ny.offset_at(at(2026, 3, 8, 6, 59)), -5 * 3600);
        assert_eq!(ny.offset_at(at(2026, 3, 8, 7, 0)), -4 * 3600);
        assert_eq!(ny.offset_at(at(2026, 11, 1, 5, 59)), -4 * 3600);
        assert_eq!(ny.offset_at(at(2026, 11, 1, 6, 0)), -5 * 3600);
        let sydney = Rule::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(sydney.offset_at(at(2026, 1, 15, 0, 0)), 11 * 3600);
        assert_eq!(sydney.offset_at(at(2026, 7, 15, 0, 0)), 10 * 3600);
        let kolkata = Rule::parse("IST-5:30").unwrap();
        assert_eq!(kolkata.offset_at(0), 5 * 3600 + 1800);
        let sp = Rule::parse("<-03>3").unwrap();
        assert_eq!(sp.offset_at(0), -3 * 3600);
        // Nuuk: `/-1` (RFC 8536 negative time): DST from Saturday 28 March
        // 2026 at 23:00 local standard time (-02) = 01:00 UTC on the 29th.
        let nuuk = Rule::parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0").unwrap();
        assert_eq!(nuuk.offset_at(at(2026, 3, 29, 0, 59)), -2 * 3600);
        assert_eq!(nuuk.offset_at(at(2026, 3, 29, 1, 0)), -3600);
        assert_eq!(Rule::parse("UTC0").unwrap().offset_at(12345), 0);
    }

    #[test]
    fn not_a_rule_is_refused() {
        for bad in [
            "",
            "Europe/Paris",
            "EST",
            "E5",
            "CET-1CEST,M13.5.0,M10.5.0",
            "CET-1CEST,M3.5.0",
            "UTC0x",
        ] {
            assert_eq!(Rule::parse(bad), None, "{bad}");
        }
    }
}
