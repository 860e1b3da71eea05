use std::fmt;
use std::str::FromStr;

use super::InvalidInput;

/// A lifetime written the way people write them: `90s`, `10m`, `12h`, `30d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lifetime(i64);

impl Lifetime {
    pub const fn from_seconds(seconds: i64) -> Self {
        Self(seconds)
    }

    pub const fn seconds(self) -> i64 {
        self.0
    }
}

/// Seconds of a duration written `90s`, `10m`, `12h` or `30d` (zero allowed).
fn parse_seconds(text: &str) -> Result<i64, InvalidInput> {
    let bad = || {
        InvalidInput::new(format!(
            "invalid duration '{text}': write a whole number followed by s, m, h or d (e.g. 90s, 10m, 12h, 30d)"
        ))
    };
    let text_trimmed = text.trim();
    let unit = text_trimmed.chars().last().ok_or_else(bad)?;
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let number = &text_trimmed[..text_trimmed.len() - 1];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let value: i64 = number.parse().map_err(|_| bad())?;
    value.checked_mul(multiplier).ok_or_else(bad)
}

impl FromStr for Lifetime {
    type Err = InvalidInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let seconds = parse_seconds(text)?;
        if seconds == 0 {
            return Err(InvalidInput::new(format!("invalid duration '{text}': it must be longer than zero")));
        }
        Ok(Self(seconds))
    }
}

/// How long a replaced secret keeps working: a lifetime, or `0s` to end it
/// at once (a leaked secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grace(i64);

impl Grace {
    pub const fn seconds(self) -> i64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl From<Lifetime> for Grace {
    fn from(lifetime: Lifetime) -> Self {
        Self(lifetime.seconds())
    }
}

impl FromStr for Grace {
    type Err = InvalidInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_seconds(text).map(Self)
    }
}

impl fmt::Display for Grace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            f.write_str("0s")
        } else {
            Lifetime(self.0).fmt(f)
        }
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s % 3_600 == 0 {
            write!(f, "{}h", s / 3_600)
        } else if s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grace_may_be_zero_a_lifetime_may_not() {
        assert!("0s".parse::<Grace>().unwrap().is_zero());
        assert_eq!("0m".parse::<Grace>().unwrap().to_string(), "0s");
        assert_eq!("24h".parse::<Grace>().unwrap().seconds(), 86_400);
        assert!("soon".parse::<Grace>().is_err());
        assert!("-1s".parse::<Grace>().is_err());
        assert!("0s".parse::<Lifetime>().is_err());
    }

    #[test]
    fn parses_each_unit() {
        assert_eq!("90s".parse::<Lifetime>().unwrap().seconds(), 90);
        assert_eq!("10m".parse::<Lifetime>().unwrap().seconds(), 600);
        assert_eq!("12h".parse::<Lifetime>().unwrap().seconds(), 43_200);
        assert_eq!("30d".parse::<Lifetime>().unwrap().seconds(), 2_592_000);
    }

    #[test]
    fn rejects_garbage_zero_negative_and_overflow() {
        for bad in ["", "10", "m", "-5m", "1.5h", "0s", "10w", "99999999999999999999d", "1 0m"] {
            assert!(bad.parse::<Lifetime>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn displays_in_the_largest_whole_unit() {
        assert_eq!(Lifetime::from_seconds(600).to_string(), "10m");
        assert_eq!(Lifetime::from_seconds(90).to_string(), "90s");
        assert_eq!(Lifetime::from_seconds(172_800).to_string(), "2d");
    }
}
