//! Checks on text people type into names and addresses.

/// The first character of `text` that changes how text around it is shown without being
/// visible itself — bidirectional embeddings, overrides and isolates (which can make a name
/// read backwards on screen: "Trojan Source"), zero-width characters, soft hyphens and the
/// byte-order mark — or a control character. `None` when there is none.
///
/// These are Unicode's format characters (category Cf) that matter for Latin-script names,
/// which is what the registry and accounts hold.
pub fn hidden_character(text: &str) -> Option<char> {
    text.chars().find(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{00AD}' // soft hyphen
                | '\u{061C}' // Arabic letter mark
                | '\u{180E}' // Mongolian vowel separator
                | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
                | '\u{202A}'..='\u{202E}' // embeddings and overrides
                | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}' // isolates
                | '\u{206A}'..='\u{206F}' // deprecated format characters
                | '\u{FEFF}' // byte-order mark, zero-width no-break space
                | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_names_pass_and_hidden_formatting_is_found() {
        for name in [
            "Siti Aminah",
            "I Gusti Ngurah Rai",
            "Nur'aini binti Abdullah",
            "Ṣalāḥ",
            "Andi-Baso",
        ] {
            assert_eq!(hidden_character(name), None, "{name}");
        }
        for (name, hidden) in [
            ("Budi\u{202E}otnaS", '\u{202E}'),
            ("Siti\u{2066}Aminah", '\u{2066}'),
            ("Dewi\u{200B}", '\u{200B}'),
            ("\u{FEFF}Rina", '\u{FEFF}'),
            ("Ma\u{00AD}de", '\u{00AD}'),
            ("Agus\nSalim", '\n'),
        ] {
            assert_eq!(hidden_character(name), Some(hidden), "{name:?}");
        }
    }
}
