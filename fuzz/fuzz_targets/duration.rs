//! `Lifetime`'s `FromStr` (`90s`, `10m`, `12h`, `30d`) and `Display`:
//! what parses is a positive whole number of seconds that displays in the
//! largest whole unit and parses back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::domain::Lifetime;

/// A whole number and one unit, around any surrounding whitespace.
fn reference(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number = &text[..text.len() - unit.len_utf8()];
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<i64>().ok()?.checked_mul(multiplier).filter(|s| *s > 0)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match text.parse::<Lifetime>() {
        Ok(lifetime) => {
            assert_eq!(Some(lifetime.seconds()), reference(&text), "{text:?}");
            let shown = lifetime.to_string();
            assert_eq!(shown.parse::<Lifetime>().ok(), Some(lifetime), "{text:?} shown as {shown:?}");
            assert!(shown.len() <= text.trim().len(), "{shown:?} is longer than {text:?}");
        }
        Err(_) => assert_eq!(reference(&text), None, "refused {text:?}"),
    }
    // Any positive number of seconds displays as something that parses back.
    if let Some(bytes) = data.get(..8) {
        let seconds = i64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        if seconds > 0 {
            let lifetime = Lifetime::from_seconds(seconds);
            assert_eq!(lifetime.to_string().parse::<Lifetime>().ok(), Some(lifetime), "{seconds} s");
        }
    }
});
