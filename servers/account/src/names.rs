//! Naming and password rules (account.proto is the contract), and the case-folded key that makes
//! usernames unique ignoring case.
//!
//! Input is first normalised to Unicode NFKC, so the same name typed on two keyboards (composed
//! or decomposed accents, full-width letters, ligatures) is one name. Then:
//!
//! - a **username** is 3-16 code points of letters (any script), digits 0-9, '_' and '-',
//!   starting with a letter;
//! - a **display name** follows the same rules and may also hold single spaces between words;
//! - neither may be a reserved word, nor start with one followed by a digit, '_', '-' or a
//!   space ([`NameRules`]);
//! - a **password** is 8-128 code points, anything allowed; it is hashed in NFKC form.
//!
//! Known limit: letters that look alike across scripts (Latin "a", Cyrillic "а") are different
//! letters here, so "аdmin" with a Cyrillic first letter is a valid, distinct name.

use unicode_normalization::UnicodeNormalization as _;

/// A valid username: as the player wrote it (NFKC) and its uniqueness key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username {
    pub name: String,
    pub key: String,
}

pub const NAME_MIN: usize = 3;
pub const NAME_MAX: usize = 16;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
/// Device ids: 16-128 printable ASCII characters.
pub const DEVICE_ID_MIN: usize = 16;
pub const DEVICE_ID_MAX: usize = 128;

/// The reserved words, folded once.
#[derive(Clone, Debug)]
pub struct NameRules {
    reserved: Vec<String>,
}

impl NameRules {
    pub fn new(reserved: &[String]) -> NameRules {
        NameRules { reserved: reserved.iter().map(|w| fold(&nfkc(w))).filter(|w| !w.is_empty()).collect() }
    }

    /// Checks a username; `None` when it breaks a rule (the client gets `INVALID_NAME`).
    pub fn username(&self, raw: &str) -> Option<Username> {
        let name = nfkc(raw);
        if !shape_ok(&name, false) {
            return None;
        }
        let key = fold(&name);
        if self.is_reserved(&key) {
            return None;
        }
        Some(Username { name, key })
    }

    /// Checks a display name; returns it normalised.
    pub fn display_name(&self, raw: &str) -> Option<String> {
        let name = nfkc(raw);
        (shape_ok(&name, true) && !self.is_reserved(&fold(&name))).then_some(name)
    }

    fn is_reserved(&self, key: &str) -> bool {
        self.reserved.iter().any(|w| match key.strip_prefix(w.as_str()) {
            Some(rest) => rest.chars().next().is_none_or(|c| c.is_ascii_digit() || "_- ".contains(c)),
            None => false,
        })
    }
}

/// Length, first letter, allowed characters; with `spaces`, single spaces between words.
fn shape_ok(name: &str, spaces: bool) -> bool {
    let len = name.chars().count();
    if !(NAME_MIN..=NAME_MAX).contains(&len) {
        return false;
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(char::is_alphabetic) {
        return false;
    }
    let mut prev = ' ';
    for c in chars {
        let ok = c.is_alphabetic() || c.is_ascii_digit() || c == '_' || c == '-' || (spaces && c == ' ');
        if !ok || (c == ' ' && prev == ' ') {
            return false;
        }
        prev = c;
    }
    prev != ' '
}

fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

/// The uniqueness key of a normalised name: lower case, plus the two full case foldings that
/// lower-casing misses ('ß' -> "ss", final 'ς' -> 'σ'), so "STRASSE" and "straße" collide.
pub fn fold(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match c {
            'ß' => key.push_str("ss"),
            'ς' => key.push('σ'),
            c => key.push(c),
        }
    }
    key
}

/// The key to look a username up by at login: normalised and folded like a new name, but not
/// checked against today's rules (an old account keeps working if the rules or the reserved
/// words change). `None` when it is too long or empty to be any account's name.
pub fn login_key(raw: &str) -> Option<String> {
    let name = nfkc(raw);
    (1..=NAME_MAX).contains(&name.chars().count()).then(|| fold(&name))
}

/// Checks a password's length; returns it normalised for hashing.
pub fn password(raw: &str) -> Option<String> {
    let len = raw.chars().count();
    (PASSWORD_MIN..=PASSWORD_MAX).contains(&len).then(|| nfkc(raw))
}

/// Whether a device id has the promised shape.
pub fn device_id_ok(id: &str) -> bool {
    (DEVICE_ID_MIN..=DEVICE_ID_MAX).contains(&id.len()) && id.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountConfig;

    fn rules() -> NameRules {
        NameRules::new(&AccountConfig::default().reserved_names)
    }

    #[test]
    fn usernames() {
        let r = rules();
        for ok in ["bob", "Bob_the-2nd", "Zoë", "Ёжик", "abcdefghijklmnop", "a12", "gmail", "rootbeer"] {
            assert!(r.username(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "abcdefghijklmnopq",
            "1bob",
            "_bob",
            "bob smith",
            "bob!",
            "bo\u{0}b",
            "admin",
            "ADMIN",
            "Admin_2",
            "gm-bob",
            "gm7",
            "Guest-12",
            "null",
        ] {
            assert!(r.username(bad).is_none(), "{bad:?}");
        }
        // Case and normal forms fold to one key.
        assert_eq!(r.username("Bob").unwrap().key, r.username("bOB").unwrap().key);
        assert_eq!(r.username("Zoe\u{308}").unwrap(), r.username("Zo\u{eb}").unwrap());
        assert_eq!(r.username("ＢＯＢ").unwrap().key, "bob");
        assert_eq!(r.username("Straße").unwrap().key, r.username("STRASSE").unwrap().key);
    }

    #[test]
    fn display_names() {
        let r = rules();
        assert_eq!(r.display_name("Bob the Brave").as_deref(), Some("Bob the Brave"));
        for bad in ["Bob  Brave", "Bob ", " Bob", "GM Bob", "Admin", "x"] {
            assert!(r.display_name(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_and_devices() {
        assert!(password("1234567").is_none());
        assert!(password("12345678").is_some());
        assert!(password(&"é".repeat(128)).is_some(), "code points, not bytes");
        assert!(password(&"x".repeat(129)).is_none());
        assert!(device_id_ok("0123456789abcdef"));
        assert!(!device_id_ok("short"));
        assert!(!device_id_ok("0123456789abcdef\n"));
        assert!(!device_id_ok(&"x".repeat(129)));
    }
}
