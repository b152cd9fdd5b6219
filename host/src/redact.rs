//! Scrubs secret values from text the host keeps or shows: plugin log lines, trap and
//! stderr text, connection test steps, run warnings and errors. A secret is also found in
//! the encoded forms a plugin or an HTTP stack is likely to have written it in: JSON
//! string escapes and URL percent-encoding (form and path style, either hex case).

use aho_corasick::{AhoCorasick, MatchKind};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::borrow::Cow;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Shorter values are not scrubbed: they would match ordinary text everywhere, and are
/// no secret worth the name.
const MIN_SECRET_BYTES: usize = 4;

/// RFC 3986's unreserved characters are the only ones left as they are.
const PERCENT_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Finds every form of a set of secrets in one pass over a text.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// None when there is nothing to scrub.
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor of `secrets` and their encoded forms.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_BYTES)
            .flat_map(encoded_forms)
            .collect();
        patterns.sort_unstable();
        patterns.dedup();
        if patterns.is_empty() {
            return Redactor::default();
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            // Only a pattern set past aho-corasick's size limits fails, and secrets are
            // short settings values; scrub nothing rather than lose the text.
            .ok();
        Redactor { matcher }
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed when none occurs.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                Cow::Owned(m.replace_all(text, &vec![REDACTED; m.patterns_len()]))
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// [`redact`](Self::redact) into an owned string.
    pub fn redacted(&self, text: &str) -> String {
        self.redact(text).into_owned()
    }
}

/// The secret as written raw, JSON-escaped and percent-encoded.
fn encoded_forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).expect("a string serializes");
    let json = json[1..json.len() - 1].to_string();
    let json_ascii = json.chars().fold(String::new(), |mut out, c| {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
        out
    });
    let percent = utf8_percent_encode(secret, PERCENT_ENCODED).to_string();
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let mut forms = vec![secret.to_string(), json, json_ascii];
    for encoded in [percent, form] {
        forms.push(lower_hex(&encoded));
        forms.push(encoded);
    }
    forms
}

/// A percent-encoded text with its hex digits in lower case.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            out.push(c);
            if c == '%' {
                hex_left = 2;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr\"et/+ &é\\x";

    #[test]
    fn every_encoded_form_is_scrubbed() {
        let redactor = Redactor::new([SECRET]);
        for written in [
            SECRET,
            r#"s3cr\"et/+ &é\\x"#,
            r#"s3cr\"et/+ &\u00e9\\x"#,
            "s3cr%22et%2F%2B%20%26%C3%A9%5Cx",
            "s3cr%22et%2f%2b%20%26%c3%a9%5cx",
            "s3cr%22et%2F%2B+%26%C3%A9%5Cx",
            "s3cr%22et%2f%2b+%26%c3%a9%5cx",
        ] {
            let text = format!("token for {written} failed");
            assert_eq!(
                redactor.redact(&text),
                "token for <redacted> failed",
                "{written}"
            );
        }
    }

    #[test]
    fn lower_case_escapes_keep_the_case_of_the_letters_around_them() {
        // Only the two hex digits after each `%` change case; a capital after an escape
        // is still a capital.
        let redactor = Redactor::new(["Pass/Word+Key", "Mot-é-Passe"]);
        for written in [
            "Pass%2FWord%2BKey",
            "Pass%2fWord%2bKey",
            "Mot-%C3%A9-Passe",
            "Mot-%c3%a9-Passe",
        ] {
            assert_eq!(
                redactor.redact(&format!("url /x?s={written}&y")),
                "url /x?s=<redacted>&y",
                "{written}"
            );
        }
        assert_eq!(lower_hex("A%2FB%C3%A9C"), "A%2fB%c3%a9C");
    }

    #[test]
    fn text_without_a_secret_is_borrowed_and_short_values_are_left() {
        let redactor = Redactor::new(["hunter22", "abc"]);
        assert!(matches!(redactor.redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(
            redactor.redact("abc then hunter22 twice hunter22"),
            "abc then <redacted> twice <redacted>"
        );
        assert!(matches!(
            Redactor::default().redact("hunter22"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_longest_secret_wins_where_two_overlap() {
        let redactor = Redactor::new(["pass", "password123"]);
        assert_eq!(redactor.redact("password123"), "<redacted>");
        assert_eq!(redactor.redact("passport"), "<redacted>port");
    }
}
