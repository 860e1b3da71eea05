//! `ScopeSet::parse` / `ScopeName::parse` (RFC 6749 §3.3 `scope-token`s):
//! accepted exactly when every part is `1*NQCHAR`, and `Display` round
//! trips. Then the set operations the grants use, on two fuzzed sets.
//!
//! Input: the first scope up to the first `\n`, a second one after it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::domain::{ScopeName, ScopeSet};
use tessera_fuzz::{check_message, check_scope_set, is_scope_name, split_at_byte};

fuzz_target!(|data: &[u8]| {
    let (first, second) = split_at_byte(data, b'\n');
    let first = String::from_utf8_lossy(first);
    let second = String::from_utf8_lossy(second.unwrap_or_default());

    for text in [&first, &second] {
        match ScopeName::parse(text) {
            Ok(name) => {
                assert!(is_scope_name(text), "accepted {text:?}");
                assert_eq!(name.as_str(), text.as_ref());
                assert_eq!(name.to_string(), text.as_ref());
                let set = ScopeSet::parse(text).expect("a name is a scope");
                assert_eq!(set, ScopeSet::from_names([name]));
            }
            Err(error) => {
                check_message(&error);
                assert!(!is_scope_name(text), "refused {text:?}");
            }
        }
        check_scope_set(text, &ScopeSet::parse(text));
    }

    let (Ok(a), Ok(b)) = (ScopeSet::parse(&first), ScopeSet::parse(&second)) else { return };
    let both = a.intersection(&b);
    assert!(both.is_subset_of(&a) && both.is_subset_of(&b));
    assert!(a.is_subset_of(&a));
    assert_eq!(a.is_subset_of(&b), b.iter().filter(|n| a.contains(n.as_str())).count() == a.iter().count());
    assert_eq!(a.is_subset_of(&b), a.missing_from(&b).next().is_none());
    for name in a.missing_from(&b) {
        assert!(a.contains(name.as_str()) && !b.contains(name.as_str()));
    }
    for name in b.iter() {
        let without = a.without(name.as_str());
        assert!(!without.contains(name.as_str()) && without.is_subset_of(&a));
        assert_eq!(ScopeSet::parse(&without.to_string()).expect("Display parses"), without);
    }
    let union = ScopeSet::parse(&format!("{a} {b}")).expect("two scopes joined are a scope");
    assert!(a.is_subset_of(&union) && b.is_subset_of(&union));
});
