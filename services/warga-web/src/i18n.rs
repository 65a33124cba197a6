//! Texts of the web UI in Bahasa Indonesia (first) and English.

/// (key, Bahasa Indonesia, English)
const TEXTS: &[(&str, &str, &str)] = &[
    ("nav.label", "Navigasi utama", "Main navigation"),
    ("nav.home", "Beranda", "Home"),
    ("nav.account", "Akun saya", "My account"),
    ("nav.departments", "Departemen", "Departments"),
    ("nav.officers", "Petugas", "Officers"),
    ("nav.signin", "Masuk", "Sign in"),
    ("nav.signup", "Daftar", "Sign up"),
    ("nav.signout", "Keluar", "Sign out"),
    ("footer", "layanan publik untuk warga", "public services for residents"),
    ("home.title", "Selamat datang di warga", "Welcome to warga"),
    (
        "home.intro",
        "Satu pintu untuk layanan kependudukan, laporan warga JagaWarga, dan BPJS Kesehatan.",
        "One door to population services, JagaWarga city reports, and BPJS Kesehatan.",
    ),
    ("signup.title", "Daftar akun warga", "Create a resident account"),
    ("signup.submit", "Daftar", "Sign up"),
    (
        "signup.done",
        "Pendaftaran berhasil. Silakan masuk.",
        "You are registered. Please sign in.",
    ),
    ("signout.done", "Anda telah keluar.", "You have signed out."),
    ("account.title", "Akun saya", "My account"),
    ("departments.title", "Departemen", "Departments"),
    ("departments.new", "Departemen baru", "New department"),
    (
        "departments.id_hint",
        "huruf kecil, angka, tanda hubung",
        "lowercase letters, digits, hyphens",
    ),
    ("departments.created", "Departemen dibuat", "Department created"),
    ("officers.title", "Petugas", "Officers"),
    ("officers.new", "Petugas baru", "New officer"),
    (
        "officers.created",
        "Petugas dibuat. Kata sandi sekali pakai (sampaikan dengan aman, hanya ditampilkan sekali):",
        "Officer created. One-time password (hand it over safely; shown only once):",
    ),
    ("field.username", "Nama pengguna", "Username"),
    ("field.display_name", "Nama lengkap", "Full name"),
    ("field.email", "Surel (opsional)", "E-mail (optional)"),
    (
        "field.password",
        "Kata sandi (minimal 10 karakter)",
        "Password (at least 10 characters)",
    ),
    ("field.roles", "Peran", "Roles"),
    ("field.department", "Departemen", "Department"),
    ("field.level", "Jenjang", "Level"),
    ("field.name", "Nama", "Name"),
    ("level.staff", "Staf", "Staff"),
    ("level.head", "Kepala", "Head"),
    ("level.top", "Pimpinan tertinggi", "Top authority"),
    ("action.create", "Buat", "Create"),
    ("error.title", "Terjadi masalah", "Something went wrong"),
    (
        "error.forbidden",
        "Halaman ini hanya untuk administrator.",
        "This page is for administrators only.",
    ),
    (
        "error.form",
        "Formulir kedaluwarsa. Silakan coba lagi.",
        "The form expired. Please try again.",
    ),
    (
        "error.signin",
        "Masuk gagal. Silakan coba lagi.",
        "Signing in failed. Please try again.",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn parse(value: Option<&str>) -> Option<Lang> {
        match value {
            Some("id") => Some(Lang::Id),
            Some("en") => Some(Lang::En),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }
}

/// The texts of one language, for templates: `t.get("nav.home")`.
#[derive(Clone, Copy, Debug)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn get(&self, key: &str) -> &'static str {
        match TEXTS.iter().find(|(k, _, _)| *k == key) {
            Some((_, id, en)) => match self.0 {
                Lang::Id => id,
                Lang::En => en,
            },
            None => {
                tracing::error!(key, "missing UI text");
                "?"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_both_languages_once() {
        for (i, (key, id, en)) in TEXTS.iter().enumerate() {
            assert!(!id.is_empty() && !en.is_empty(), "{key}");
            assert!(TEXTS[i + 1..].iter().all(|(k, _, _)| k != key), "{key} twice");
        }
    }

    #[test]
    fn every_key_used_in_a_template_exists() {
        let templates = [
            include_str!("../templates/base.html"),
            include_str!("../templates/home.html"),
            include_str!("../templates/signup.html"),
            include_str!("../templates/account.html"),
            include_str!("../templates/departments.html"),
            include_str!("../templates/officers.html"),
            include_str!("../templates/message.html"),
        ];
        for template in templates {
            for piece in template.split("t.get(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                assert!(TEXTS.iter().any(|(k, _, _)| *k == key), "no text for {key}");
            }
        }
    }
}
