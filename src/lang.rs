//! Languages: a visitor's language tag (BCP 47, as a browser states it) checked and written
//! one way, and the choice of the language the server answers in.
//!
//! The server answers in a language it has texts for: the widget's own translations
//! ([`WIDGET_LANGUAGES`]) and the greetings configured in `[conversation.greetings]`. A tag
//! matches its most specific supported prefix (`de-CH` → `de`, `zh-Hans-CN` → `zh-Hans`, then
//! `zh`); without one, English.

use std::fmt;

/// The languages the bundled widget has translations for (static/widget/i18n.js).
pub const WIDGET_LANGUAGES: &[&str] = &["en", "de", "fr", "es", "pt", "ja", "zh", "ar"];

/// What the server answers when nothing better matches.
pub const FALLBACK: &str = "en";

/// Longest tag accepted: real tags are far shorter; anything longer is not a language.
const MAX_TAG_LEN: usize = 35;

/// A language tag that has the shape of BCP 47: a primary language of 2 to 8 letters, then
/// subtags of 1 to 8 letters or digits, separated by `-`. Written in the usual case (`de-CH`,
/// `zh-Hans`), so equal tags compare equal however they were sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LangTag(String);

/// Why a tag was refused, said to the client that sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a language tag (BCP 47, e.g. \"de-CH\")")]
pub struct BadTag(pub String);

impl LangTag {
    pub fn parse(raw: &str) -> Result<LangTag, BadTag> {
        let bad = || BadTag(raw.chars().take(MAX_TAG_LEN + 5).collect());
        // Browsers and some libraries write `de_CH`.
        let tag = raw.trim().replace('_', "-");
        if tag.is_empty() || tag.len() > MAX_TAG_LEN {
            return Err(bad());
        }
        let mut out = Vec::new();
        for (i, sub) in tag.split('-').enumerate() {
            let fits = if i == 0 {
                (2..=8).contains(&sub.len()) && sub.chars().all(|c| c.is_ascii_alphabetic())
            } else {
                (1..=8).contains(&sub.len()) && sub.chars().all(|c| c.is_ascii_alphanumeric())
            };
            if !fits {
                return Err(bad());
            }
            out.push(match (i, sub.len()) {
                (0, _) => sub.to_ascii_lowercase(),
                // A script (`Hans`), after the language.
                (_, 4) if sub.chars().all(|c| c.is_ascii_alphabetic()) => {
                    let mut s = sub.to_ascii_lowercase();
                    s[..1].make_ascii_uppercase();
                    s
                }
                // A region (`CH`).
                (_, 2) => sub.to_ascii_uppercase(),
                _ => sub.to_ascii_lowercase(),
            });
        }
        Ok(LangTag(out.join("-")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Chinese written in Traditional characters: script `Hant`, or no script and a region
    /// that writes it (Taiwan, Hong Kong, Macao).
    pub fn is_traditional_chinese(&self) -> bool {
        let mut subs = self.0.split('-');
        if subs.next() != Some("zh") {
            return false;
        }
        for sub in subs {
            match sub {
                "Hant" | "TW" | "HK" | "MO" => return true,
                "Hans" => return false,
                _ => {}
            }
        }
        false
    }

    /// The primary language subtag: `de` for `de-CH`.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for LangTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The best of `available` for a visitor who asked for `wanted`: the longest one that is
/// `wanted` or a prefix of it at a subtag boundary (`de-CH` takes `de-CH`, else `de`), else
/// [`FALLBACK`]. No tag at all also answers the fallback.
pub fn best_match<'a>(wanted: Option<&LangTag>, available: impl IntoIterator<Item = &'a LangTag>) -> String {
    let Some(wanted) = wanted else { return FALLBACK.to_owned() };
    let w = wanted.as_str();
    let covers = |a: &str| {
        let prefix = w == a || (w.starts_with(a) && w.as_bytes()[a.len()] == b'-');
        // A bare `zh` is Simplified Chinese (the widget's table): not for readers of Traditional.
        prefix && !(a == "zh" && wanted.is_traditional_chinese())
    };
    available
        .into_iter()
        .map(LangTag::as_str)
        .filter(|a| covers(a))
        .max_by_key(|a| a.len())
        .unwrap_or(FALLBACK)
        .to_owned()
}

/// The widget's languages as tags.
pub fn widget_languages() -> Vec<LangTag> {
    WIDGET_LANGUAGES.iter().map(|l| LangTag(l.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> LangTag {
        LangTag::parse(s).unwrap()
    }

    fn best(wanted: &str, available: &[&str]) -> String {
        let available: Vec<LangTag> = available.iter().map(|a| tag(a)).collect();
        best_match(Some(&tag(wanted)), &available)
    }

    #[test]
    fn tags_are_written_in_the_usual_case() {
        assert_eq!(tag("de-ch").as_str(), "de-CH");
        assert_eq!(tag("ZH-hans-sg").as_str(), "zh-Hans-SG");
        assert_eq!(tag("pt_BR").as_str(), "pt-BR");
        assert_eq!(tag(" en ").as_str(), "en");
        assert_eq!(tag("es-419").as_str(), "es-419");
        assert_eq!(tag("de-CH-1996").as_str(), "de-CH-1996");
        assert_eq!(tag("zh-Hant-TW").primary(), "zh");
    }

    #[test]
    fn what_is_not_a_tag_is_refused() {
        for bad in
            ["", "-", "d", "de-", "-de", "de--CH", "123", "de CH", "de-CHÄ", "<script>", "de-toolongsubtag"]
        {
            assert!(LangTag::parse(bad).is_err(), "{bad:?} passed");
        }
        let long = format!("de{}", "-abc".repeat(20));
        assert!(LangTag::parse(&long).is_err());
        assert!(LangTag::parse(&"x".repeat(10_000)).unwrap_err().0.len() < 50, "the refusal stays short");
    }

    #[test]
    fn a_region_matches_its_language_and_nothing_matches_english() {
        let widget: Vec<&str> = WIDGET_LANGUAGES.to_vec();
        assert_eq!(best("de-CH", &widget), "de");
        assert_eq!(best("de", &widget), "de");
        assert_eq!(best("ar-EG", &widget), "ar");
        assert_eq!(best("zh-Hans-CN", &widget), "zh");
        for simplified in ["zh", "zh-CN", "zh-Hans", "zh-SG"] {
            assert_eq!(best(simplified, &widget), "zh", "{simplified}");
        }
        // The widget's Chinese is Simplified: readers of Traditional get English unless a
        // Traditional greeting is configured.
        for traditional in ["zh-TW", "zh-HK", "zh-Hant", "zh-Hant-CN"] {
            assert_eq!(best(traditional, &widget), "en", "{traditional}");
        }
        assert_eq!(best("zh-TW", &["zh", "zh-Hant"]), "en", "zh-Hant is not a prefix of zh-TW");
        assert_eq!(best("zh-Hant-TW", &["zh", "zh-Hant"]), "zh-Hant");
        assert_eq!(best("nl-BE", &widget), "en");
        assert_eq!(best("tlh", &widget), "en");
        assert_eq!(best_match(None, &widget_languages()), "en");
    }

    #[test]
    fn the_most_specific_configured_tag_wins_and_prefixes_stop_at_subtags() {
        assert_eq!(best("de-CH", &["de", "de-CH", "en"]), "de-CH");
        assert_eq!(best("de-AT", &["de", "de-CH", "en"]), "de");
        assert_eq!(best("pt-BR", &["pt", "pt-BR"]), "pt-BR");
        // `de` is not a prefix of `den`: a language is matched whole.
        assert_eq!(best("den", &["de"]), "en");
        assert_eq!(best("nl", &["nl", "en"]), "nl");
    }
}
