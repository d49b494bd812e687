//! The rules a message's text must keep, with no I/O: valid UTF-8, not empty, at most the
//! configured number of code points, and no character that hides or reorders text (control,
//! zero-width, bidirectional overrides and isolates).

use mmo_proto::ErrorCode;

/// Why a text is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextError {
    /// Not UTF-8.
    Utf8,
    /// Empty, or only white space.
    Empty,
    /// Longer than the limit (in code points).
    TooLong(u32),
    /// Holds this forbidden character.
    Forbidden(char),
}

impl TextError {
    /// The code the client gets.
    pub fn code(self) -> ErrorCode {
        match self {
            TextError::Utf8 => ErrorCode::ChatInvalidUtf8,
            TextError::TooLong(_) => ErrorCode::ChatTooLong,
            TextError::Empty | TextError::Forbidden(_) => ErrorCode::ChatInvalidText,
        }
    }

    /// The detail the client gets with it.
    pub fn detail(self) -> String {
        match self {
            TextError::Utf8 => "the text is not valid UTF-8".into(),
            TextError::Empty => "the text is empty".into(),
            TextError::TooLong(max) => format!("at most {max} characters"),
            TextError::Forbidden(c) => format!("character U+{:04X} is not allowed", u32::from(c)),
        }
    }
}

/// Characters that change how text around them shows without being seen themselves.
pub fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Zero-width space, non-joiner, joiner; word joiner; invisible operators; BOM;
            // Mongolian vowel separator.
            '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}'
            // Bidirectional marks, embeddings, overrides and isolates; the Arabic letter mark.
            | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}'
        )
}

/// Checks `bytes` as a message's text; the text itself when it passes.
pub fn check(bytes: &[u8], max_chars: u32) -> Result<&str, TextError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TextError::Utf8)?;
    if text.trim().is_empty() {
        return Err(TextError::Empty);
    }
    if let Some(c) = text.chars().find(|c| forbidden(*c)) {
        return Err(TextError::Forbidden(c));
    }
    if text.chars().count() > max_chars as usize {
        return Err(TextError::TooLong(max_chars));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_code_points_not_bytes() {
        assert_eq!(check("héllo wörld".as_bytes(), 11), Ok("héllo wörld"));
        assert_eq!(check("日本語".as_bytes(), 3), Ok("日本語"));
        assert_eq!(check("日本語!".as_bytes(), 3), Err(TextError::TooLong(3)));
    }

    #[test]
    fn hidden_and_reordering_characters_are_refused() {
        for bad in [
            "a\u{0}b",
            "a\nb",
            "a\u{7}",
            "pay\u{202E}lanigiro",
            "zero\u{200B}width",
            "\u{2066}x",
            "\u{FEFF}x",
        ] {
            assert!(matches!(check(bad.as_bytes(), 100), Err(TextError::Forbidden(_))), "{bad:?}");
        }
        assert_eq!(check(b"   ", 100), Err(TextError::Empty));
        assert_eq!(check(&[0x61, 0xff, 0x62], 100), Err(TextError::Utf8));
        assert_eq!(TextError::Utf8.code(), ErrorCode::ChatInvalidUtf8);
    }
}
