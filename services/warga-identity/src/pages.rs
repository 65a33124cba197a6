//! The provider's own pages: sign-in, errors, signed out. Bahasa Indonesia first, English
//! on request (`lang=en`). Pages carry a strict Content-Security-Policy: no script at all,
//! styles only from warga itself, forms posting only to warga (and, after sign-in, on to
//! the client's redirect origin).

use axum::http::StatusCode;
use axum::response::Response;

/// The stylesheet of the provider's pages, served at [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = "body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1c2430;margin:0}\
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 3px #0002}\
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.8rem 0 .3rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #8a94a6;border-radius:.3rem;font-size:1rem}\
button{margin-top:1.2rem;width:100%;padding:.7rem;background:#0b5cad;color:#fff;border:0;border-radius:.3rem;font-size:1rem}\
.error{background:#fde8e8;color:#8a1c1c;padding:.6rem;border-radius:.3rem}.lang{font-size:.85rem;text-align:right}\
.lang a{color:#0b5cad}footer{font-size:.8rem;color:#5b6678;margin-top:1.5rem}";
pub const STYLESHEET_PATH: &str = "/oauth2/assets/style.css";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn from_param(value: Option<&str>) -> Lang {
        match value {
            Some("en") => Lang::En,
            _ => Lang::Id,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }
}

/// A text in both languages.
pub struct Text {
    pub id: &'static str,
    pub en: &'static str,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Id => self.id,
            Lang::En => self.en,
        }
    }
}

pub const SIGN_IN: Text = Text {
    id: "Masuk ke warga",
    en: "Sign in to warga",
};
pub const USERNAME: Text = Text {
    id: "Nama pengguna",
    en: "Username",
};
pub const PASSWORD: Text = Text {
    id: "Kata sandi",
    en: "Password",
};
pub const FORGOT: Text = Text {
    id: "Lupa kata sandi?",
    en: "Forgot your password?",
};
pub const NO_ACCOUNT: Text = Text {
    id: "Belum punya akun?",
    en: "No account yet?",
};
pub const SIGN_UP: Text = Text {
    id: "Daftar",
    en: "Sign up",
};
pub const SUBMIT: Text = Text {
    id: "Masuk",
    en: "Sign in",
};
pub const INVALID_CREDENTIALS: Text = Text {
    id: "Nama pengguna atau kata sandi salah.",
    en: "Wrong username or password.",
};
pub const LOCKED: Text = Text {
    id: "Terlalu banyak percobaan gagal. Coba lagi nanti.",
    en: "Too many failed attempts. Try again later.",
};
pub const DISABLED: Text = Text {
    id: "Akun ini dinonaktifkan.",
    en: "This account is disabled.",
};
pub const FORM_EXPIRED: Text = Text {
    id: "Formulir kedaluwarsa. Silakan coba lagi.",
    en: "The form expired. Please try again.",
};
pub const BAD_REQUEST: Text = Text {
    id: "Permintaan tidak valid",
    en: "Invalid request",
};
pub const SIGNED_OUT: Text = Text {
    id: "Anda telah keluar.",
    en: "You have signed out.",
};
pub const SIGNING_IN_FOR: Text = Text {
    id: "Masuk untuk",
    en: "Signing in to",
};
pub const CHANGE_PASSWORD: Text = Text {
    id: "Ganti kata sandi",
    en: "Change your password",
};
pub const CHANGE_PASSWORD_WHY: Text = Text {
    id: "Kata sandi Anda adalah kata sandi sekali pakai. Buat kata sandi baru sebelum melanjutkan.",
    en: "Your password is a one-time password. Choose a new one before you continue.",
};
pub const CURRENT_PASSWORD: Text = Text {
    id: "Kata sandi sekarang",
    en: "Current password",
};
pub const NEW_PASSWORD: Text = Text {
    id: "Kata sandi baru (minimal 10 karakter)",
    en: "New password (at least 10 characters)",
};
pub const CONFIRM_PASSWORD: Text = Text {
    id: "Ulangi kata sandi baru",
    en: "Repeat the new password",
};
pub const PASSWORDS_DIFFER: Text = Text {
    id: "Kedua kata sandi baru tidak sama.",
    en: "The two new passwords differ.",
};
pub const SAME_PASSWORD: Text = Text {
    id: "Kata sandi baru harus berbeda dari yang lama.",
    en: "The new password must differ from the old one.",
};
pub const SAVE_AND_CONTINUE: Text = Text {
    id: "Simpan dan lanjutkan",
    en: "Save and continue",
};

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Wraps `body` in the page layout and sets the security headers. `form_origin` is the
/// client origin a form on the page may end up redirecting to.
pub fn page(lang: Lang, title: &str, body: &str, status: StatusCode, form_origin: Option<&str>) -> Response {
    let other = match lang {
        Lang::Id => "<a href=\"?lang=en\" hreflang=\"en\">English</a>",
        Lang::En => "<a href=\"?lang=id\" hreflang=\"id\">Bahasa Indonesia</a>",
    };
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · warga</title><link rel=\"stylesheet\" href=\"{STYLESHEET_PATH}\"></head>\
         <body><main><p class=\"lang\">{other}</p>{body}<footer>warga</footer></main></body></html>",
        lang = lang.code(),
        title = escape(title),
    );
    warga_http::web::html_page(
        status,
        html,
        warga_http::web::PagePolicy {
            form_origin,
            // Provider pages carry codes and states in their URLs: nothing leaves with a Referer.
            referrer: "no-referrer",
            own_scripts: false,
        },
    )
}

/// The origin (`scheme://host:port`) of an absolute URL.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains(['\'', '"', ' ', ';'])).then(|| format!("{scheme}://{host}"))
}

pub fn error_page(lang: Lang, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p>",
        BAD_REQUEST.get(lang),
        escape(message)
    );
    page(lang, BAD_REQUEST.get(lang), &body, StatusCode::BAD_REQUEST, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_finds_origins() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
        assert_eq!(
            origin("https://app.example.go.id/cb?x=1").as_deref(),
            Some("https://app.example.go.id")
        );
        assert_eq!(
            origin("http://127.0.0.1:8000/callback").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(origin("https://x'; script-src *").as_deref(), None);
    }
}
