//! Scrubbing personal data out of a report's text before it is stored (R-S4).
//!
//! A reporter describing a problem often writes who they are without meaning to: a NIK, a
//! phone number to call back, an e-mail address, their own name. For an anonymous report any
//! of those undoes the anonymity; for any report they are personal data the public feed
//! must not show. Each is replaced by a visible marker, so the reader sees that something
//! was removed and the text still reads.
//!
//! Pure: the same text and names give the same result; no regular-expression engine, a
//! scan over characters (the patterns are few and fixed).

/// What replaces a NIK (16 digits, not part of a longer number).
pub const NIK_MARK: &str = "[NIK disembunyikan]";
/// What replaces an Indonesian phone number (+62…, 62…, 08…).
pub const PHONE_MARK: &str = "[nomor telepon disembunyikan]";
/// What replaces an e-mail address.
pub const EMAIL_MARK: &str = "[email disembunyikan]";
/// What replaces the reporter's own names.
pub const NAME_MARK: &str = "[nama disembunyikan]";

/// `text` with NIKs, phone numbers, e-mail addresses and the words of `names` (the
/// reporter's names, from their resident record; case-insensitive, whole words of three
/// letters or more) replaced by markers.
pub fn scrub(text: &str, names: &[&str]) -> String {
    let text = scrub_emails(text);
    let text = scrub_numbers(&text);
    scrub_names(&text, names)
}

fn is_email_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

/// Replaces `local@domain.tld` runs.
fn scrub_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut start_of_word = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            // The local part: back to the start of the run of e-mail characters.
            let mut local = i;
            while local > start_of_word && is_email_char(chars[local - 1]) {
                local -= 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_email_char(chars[end]) {
                end += 1;
            }
            // Trailing dots belong to the sentence, not the domain.
            while end > i + 1 && chars[end - 1] == '.' {
                end -= 1;
            }
            let domain: String = chars[i + 1..end].iter().collect();
            if local < i && domain.contains('.') && !domain.starts_with('.') {
                // Drop the local part already copied.
                for _ in local..i {
                    out.pop();
                }
                out.push_str(EMAIL_MARK);
                i = end;
                start_of_word = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Replaces digit runs (spaces, dots and dashes between digits allowed) that are a NIK or an
/// Indonesian phone number.
fn scrub_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let plus = chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        let paren = chars[i] == '(' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        let starts_number = (chars[i].is_ascii_digit() || plus || paren) && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts_number {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, with up to two separators (space, dash, dot, closing parenthesis)
        // between digits: 0812-3456-7890, +62 812 3456 7890, (021) 555 1234.
        let mut end = i + usize::from(plus || paren);
        let mut digits = String::new();
        while end < chars.len() {
            if chars[end].is_ascii_digit() {
                digits.push(chars[end]);
                end += 1;
                continue;
            }
            let separators = chars[end..]
                .iter()
                .take(3)
                .take_while(|c| matches!(c, ' ' | '-' | '.' | ')'))
                .count();
            if separators > 0
                && separators <= 2
                && !digits.is_empty()
                && chars.get(end + separators).is_some_and(char::is_ascii_digit)
            {
                end += separators;
            } else {
                break;
            }
        }
        let glued = end < chars.len() && chars[end].is_alphanumeric();
        let mark = if glued {
            None
        } else if digits.len() == 16 {
            Some(NIK_MARK)
        } else if is_phone(&digits, plus) {
            Some(PHONE_MARK)
        } else {
            None
        };
        match mark {
            Some(mark) => out.push_str(mark),
            None => out.extend(&chars[i..end]),
        }
        i = end;
    }
    out
}

/// An Indonesian phone number: `08` + 8–11 digits, or `62` / `+62` + `8` + 8–11 digits
/// (mobile), or a landline with its area code (`0` + 2–3 digit area + 6–8 digits).
fn is_phone(digits: &str, plus: bool) -> bool {
    let national = if let Some(rest) = digits.strip_prefix("62") {
        rest
    } else if plus {
        return false;
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest
    } else {
        return false;
    };
    let len = national.len();
    if national.starts_with('8') {
        (9..=12).contains(&len)
    } else {
        // Landlines: 021-5551234 and the like.
        national.starts_with(|c: char| ('2'..='7').contains(&c)) && (8..=11).contains(&len)
    }
}

/// Replaces whole words equal (case-insensitively) to a word of `names`.
fn scrub_names(text: &str, names: &[&str]) -> String {
    let words: Vec<String> = names
        .iter()
        .flat_map(|name| name.split(|c: char| !c.is_alphanumeric() && c != '\''))
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let mut marked_last = false;
    let flush = |word: &mut String, out: &mut String, marked_last: &mut bool| {
        if word.is_empty() {
            return;
        }
        if words.contains(&word.to_lowercase()) {
            // "Siti Aminah" becomes one marker, not two.
            if !*marked_last {
                out.push_str(NAME_MARK);
            } else if out.ends_with(' ') {
                out.pop();
            }
            *marked_last = true;
        } else {
            out.push_str(word);
            *marked_last = false;
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' {
            word.push(c);
        } else {
            flush(&mut word, &mut out, &mut marked_last);
            if c != ' ' {
                marked_last = false;
            }
            out.push(c);
        }
    }
    flush(&mut word, &mut out, &mut marked_last);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn niks_phones_and_emails_become_markers() {
        let text = "Saya 3171075203950004, hubungi 0812-3456-7890 atau +62 812 3456 7890 \
                    atau 6281234567890, kantor (021) 5551234 / 021-5551234, email siti.a+lapor@mail.co.id.";
        let clean = scrub(text, &[]);
        assert!(!clean.contains("3171075203950004"), "{clean}");
        assert!(!clean.contains("3456"), "{clean}");
        assert!(!clean.contains("5551234"), "{clean}");
        assert!(!clean.contains("siti.a"), "{clean}");
        assert!(
            clean.contains(NIK_MARK) && clean.contains(PHONE_MARK) && clean.contains(EMAIL_MARK),
            "{clean}"
        );
        assert!(
            clean.ends_with(&format!("{EMAIL_MARK}.")),
            "the sentence's full stop stays: {clean}"
        );
    }

    #[test]
    fn ordinary_numbers_stay() {
        let text = "Lubang 2 meter di Jl. Sudirman No. 45 RT 003/007, sejak 12-03-2026, km 3.5, kode 40115.";
        assert_eq!(scrub(text, &[]), text);
        // A 16-digit run glued to letters is not a NIK on its own.
        assert_eq!(scrub("ID3171075203950004x", &[]), "ID3171075203950004x");
    }

    #[test]
    fn the_reporters_own_names_are_removed_whole_words_only() {
        let clean = scrub(
            "Saya Siti Aminah dari RT 3, rumah bu siti di Jl. Sitiwangi.",
            &["Siti Aminah"],
        );
        assert_eq!(
            clean,
            format!("Saya {NAME_MARK} dari RT 3, rumah bu {NAME_MARK} di Jl. Sitiwangi.")
        );
        // Short words of a name (initials, "Al") are not taken out of ordinary text.
        assert_eq!(scrub("Al di sini", &["Al Fatih"]), "Al di sini");
    }
}
